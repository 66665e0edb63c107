// QEMU guests are CPU-heavy under TCG on a 2-CPU machine: test classes run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
