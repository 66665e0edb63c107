// Integration tests start real node processes on fixed loopback ports: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
