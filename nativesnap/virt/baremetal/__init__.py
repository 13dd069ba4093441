"""The bare-metal driver: snapshots of a physical node's root disk, taken and
written back by the node's agent (docs/baremetal.md)."""
