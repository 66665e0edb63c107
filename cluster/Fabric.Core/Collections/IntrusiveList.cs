namespace Fabric.Core.Collections;

/// <summary>
/// A doubly linked list threaded through its items (<see cref="IntrusiveListNode{T}"/>), kept in the order they
/// were added: oldest first. Adding at the young end and removing any item are O(1) and allocate nothing, which
/// is what the data paths need to keep every outstanding op on a list (slow-op reports walk it from the oldest
/// and stop at the first op young enough). Not thread-safe: the owner serialises access (its lock or its loop).
/// </summary>
public sealed class IntrusiveList<T> where T : IntrusiveListNode<T>
{
    /// <summary>The item added longest ago that is still on the list (null when empty).</summary>
    public T? Oldest { get; private set; }

    /// <summary>The item added last (null when empty).</summary>
    public T? Newest { get; private set; }

    public int Count { get; private set; }

    /// <summary>Adds <paramref name="item"/> at the young end. An item already on a list is a bug in the caller.</summary>
    public void AddNewest(T item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.List is not null)
        {
            // Linking it twice would cut the items between its two places out of the list without a trace.
            throw new InvalidOperationException("The item is already on a list; remove it first.");
        }
        item.List = this;
        item.Older = Newest;
        item.Newer = null;
        if (Newest is null)
        {
            Oldest = item;
        }
        else
        {
            Newest.Newer = item;
        }
        Newest = item;
        Count++;
    }

    /// <summary>
    /// Takes <paramref name="item"/> off the list; false (and nothing changes) when it is on no list, so every
    /// way an item can finish may call it. An item on another list is a bug in the caller.
    /// </summary>
    public bool Remove(T item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.List is null)
        {
            return false;
        }
        if (!ReferenceEquals(item.List, this))
        {
            throw new InvalidOperationException("The item is on another list.");
        }
        if (item.Older is null)
        {
            Oldest = item.Newer;
        }
        else
        {
            item.Older.Newer = item.Newer;
        }
        if (item.Newer is null)
        {
            Newest = item.Older;
        }
        else
        {
            item.Newer.Older = item.Older;
        }
        item.Older = null;
        item.Newer = null;
        item.List = null;
        Count--;
        return true;
    }
}
