"""The VMware vSphere driver (docs/vmware.md)."""
