// QEMU guests and socket servers share two CPUs: one test at a time keeps timing-sensitive boots sane.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
