namespace Fabric.Core.Collections;

/// <summary>
/// The links an item carries so that an <see cref="IntrusiveList{T}"/> can hold it: the list is threaded through
/// its items, so adding and removing one allocates nothing. An item is on at most one list at a time; only the
/// list changes the links, so a holder can walk them (<see cref="Newer"/> from the oldest) but not break them.
/// </summary>
/// <typeparam name="T">The item type itself (<c>class Op : IntrusiveListNode&lt;Op&gt;</c>), so the links are typed.</typeparam>
public abstract class IntrusiveListNode<T> where T : IntrusiveListNode<T>
{
    /// <summary>The item added just before this one (null for the oldest, or when on no list).</summary>
    public T? Older { get; internal set; }

    /// <summary>The item added just after this one (null for the newest, or when on no list).</summary>
    public T? Newer { get; internal set; }

    /// <summary>The list holding this item: lets a list refuse an item that another list holds.</summary>
    internal IntrusiveList<T>? List { get; set; }

    /// <summary>True while the item is on a list.</summary>
    public bool IsLinked => List is not null;
}
