"""nativesnap: native VM snapshots as a first-class resource."""
