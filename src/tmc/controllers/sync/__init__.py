"""The sync engine: WorkloadBindings -> copies on physical clusters, cleaned up when no longer wanted."""
