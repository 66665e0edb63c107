using Fabric.Core.Collections;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Core.Tests.Collections;

public sealed class IntrusiveListTests
{
    private sealed class Item(int id) : IntrusiveListNode<Item>
    {
        public int Id { get; } = id;
    }

    private static int[] OldestFirst(IntrusiveList<Item> list)
    {
        var ids = new List<int>();
        for (Item? item = list.Oldest; item is not null; item = item.Newer)
        {
            ids.Add(item.Id);
        }
        return ids.ToArray();
    }

    private static int[] NewestFirst(IntrusiveList<Item> list)
    {
        var ids = new List<int>();
        for (Item? item = list.Newest; item is not null; item = item.Older)
        {
            ids.Add(item.Id);
        }
        return ids.ToArray();
    }

    [Fact]
    public void Items_are_kept_oldest_first_and_any_one_can_be_removed()
    {
        var list = new IntrusiveList<Item>();
        Item[] items = Enumerable.Range(1, 5).Select(i => new Item(i)).ToArray();
        foreach (Item item in items)
        {
            list.AddNewest(item);
        }
        Assert.Equal([1, 2, 3, 4, 5], OldestFirst(list));

        Assert.True(list.Remove(items[2])); // middle
        Assert.True(list.Remove(items[0])); // oldest
        Assert.True(list.Remove(items[4])); // newest
        Assert.Equal([2, 4], OldestFirst(list));
        Assert.Equal([4, 2], NewestFirst(list));
        Assert.Equal(2, list.Count);
        Assert.False(items[2].IsLinked);
        Assert.Null(items[2].Older);
        Assert.Null(items[2].Newer);

        Assert.True(list.Remove(items[1]));
        Assert.True(list.Remove(items[3]));
        Assert.Null(list.Oldest);
        Assert.Null(list.Newest);
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void Removing_an_item_that_is_on_no_list_does_nothing_and_a_removed_item_can_be_added_again()
    {
        var list = new IntrusiveList<Item>();
        var a = new Item(1);
        var b = new Item(2);
        list.AddNewest(a);
        list.AddNewest(b);

        Assert.False(list.Remove(new Item(3)));
        Assert.True(list.Remove(a));
        Assert.False(list.Remove(a));
        Assert.Equal([2], OldestFirst(list));

        list.AddNewest(a);
        Assert.Equal([2, 1], OldestFirst(list));
        Assert.True(a.IsLinked);
    }

    [Fact]
    public void An_item_on_a_list_cannot_be_added_again_or_removed_through_another_list()
    {
        var first = new IntrusiveList<Item>();
        var second = new IntrusiveList<Item>();
        var a = new Item(1);
        first.AddNewest(a);

        Assert.Throws<InvalidOperationException>(() => first.AddNewest(a));
        Assert.Throws<InvalidOperationException>(() => second.AddNewest(a));
        Assert.Throws<InvalidOperationException>(() => second.Remove(a));
        Assert.Equal([1], OldestFirst(first));
        Assert.Empty(OldestFirst(second));
    }

    [Fact]
    public void Any_sequence_of_adds_and_removes_matches_a_plain_list()
    {
        // Each step names an item (0..7): added when it is off the list, removed when it is on it.
        Prop.ForAll(Gen.ListOf(Gen.Choose(0, 7)).ToArbitrary(), steps =>
        {
            var list = new IntrusiveList<Item>();
            Item[] items = Enumerable.Range(0, 8).Select(i => new Item(i)).ToArray();
            var model = new List<int>();
            foreach (int step in steps)
            {
                if (model.Remove(step))
                {
                    list.Remove(items[step]);
                }
                else
                {
                    model.Add(step);
                    list.AddNewest(items[step]);
                }
            }
            return OldestFirst(list).SequenceEqual(model)
                && NewestFirst(list).SequenceEqual(Enumerable.Reverse(model))
                && list.Count == model.Count
                && items.All(i => i.IsLinked == model.Contains(i.Id));
        }).QuickCheckThrowOnFailure();
    }
}
