"""Control plane without a control plane: pools, placement, leases, quotas."""
