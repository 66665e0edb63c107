// Tests start servers, node and etcd processes: run test classes one after another so they never
// compete for the two CPUs in ways that turn deadlines into flakes.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
