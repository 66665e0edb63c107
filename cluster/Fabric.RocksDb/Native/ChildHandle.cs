// Base for handles whose native object points into a DB (or another parent handle): the child
// takes a reference on each parent when it is created and drops it only after its own native
// object is destroyed, so a parent is never freed under a live child.
using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;

namespace Fabric.RocksDb.Native;

internal abstract class ChildHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private SafeHandle?[] _parents = [];

    protected ChildHandle() : base(ownsHandle: true)
    {
    }

    /// <summary>Takes a reference on every non-null parent; throws ObjectDisposedException (and
    /// holds nothing) if one of them is already closed.</summary>
    protected void AddParents(params SafeHandle?[] parents)
    {
        var taken = new List<SafeHandle>(parents.Length);
        try
        {
            foreach (var parent in parents)
            {
                if (parent is null) continue;
                bool added = false;
                parent.DangerousAddRef(ref added);
                if (added) taken.Add(parent);
            }
        }
        catch
        {
            foreach (var parent in taken) parent.DangerousRelease();
            throw;
        }
        _parents = [.. taken];
    }

    /// <summary>Drops the parent references taken by AddParents when construction fails before
    /// SetNative (an invalid handle never runs ReleaseHandle).</summary>
    protected void AbandonParents()
    {
        for (int i = _parents.Length - 1; i >= 0; i--) _parents[i]!.DangerousRelease();
        _parents = [];
    }

    /// <summary>Destroys the native object; the parents are still alive when this runs.</summary>
    protected abstract void Destroy(nint native);

    protected sealed override bool ReleaseHandle()
    {
        Destroy(handle);
        // Release in reverse order of acquisition: the innermost parent (e.g. a snapshot) before the DB.
        AbandonParents();
        return true;
    }

    protected void SetNative(nint native) => SetHandle(native);
}
