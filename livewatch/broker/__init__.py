"""The Redis broker beside the hub: agents publish their hosts' records, replicas merge them."""
