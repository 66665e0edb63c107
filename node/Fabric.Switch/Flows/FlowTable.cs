// The switch's tables of flow rules. Owned by the datapath thread (the switch changes it only through
// its command queue), so lookups take no lock. Every change bumps Version; the exact-match cache
// remembers the version each entry was computed at and treats older entries as misses.
namespace Fabric.Switch.Flows;

public sealed class FlowTable
{
    public const int TableCount = 8;
    private readonly List<FlowRule>[] _tables = Enumerable.Range(0, TableCount).Select(_ => new List<FlowRule>()).ToArray();

    public long Version { get; private set; } = 1;
    public int Count => _tables.Sum(t => t.Count);

    public IEnumerable<FlowRule> Rules => _tables.SelectMany(t => t);

    public void Add(FlowRule rule)
    {
        if (rule.Table is < 0 or >= TableCount) throw new ArgumentOutOfRangeException(nameof(rule), $"table {rule.Table} outside 0..{TableCount - 1}");
        foreach (var a in rule.Actions)
            if (a.Kind == FlowActionKind.GotoTable && a.Arg <= rule.Table)
                throw new ArgumentException($"goto_table:{a.Arg} from table {rule.Table} would loop: tables only go forward");
        var list = _tables[rule.Table];
        // Insert after every rule of higher or equal priority: stable among equals.
        int i = 0;
        while (i < list.Count && list[i].Priority >= rule.Priority) i++;
        list.Insert(i, rule);
        Version++;
    }

    public int RemoveWhere(Func<FlowRule, bool> predicate)
    {
        int n = 0;
        foreach (var t in _tables) n += t.RemoveAll(r => predicate(r));
        if (n > 0) Version++;
        return n;
    }

    /// <summary>Replaces every rule at once (one version bump).</summary>
    public void ReplaceAll(IEnumerable<FlowRule> rules)
    {
        foreach (var t in _tables) t.Clear();
        foreach (var r in rules)
        {
            var list = _tables[r.Table];
            int i = list.Count;
            while (i > 0 && list[i - 1].Priority < r.Priority) i--;
            list.Insert(i, r);
        }
        Version++;
    }

    /// <summary>The highest-priority rule of <paramref name="table"/> that matches, or null.</summary>
    public FlowRule? Lookup(int table, in Packets.FlowKey key, in FlowMatch.Context context)
    {
        var list = _tables[table];
        for (int i = 0; i < list.Count; i++)
            if (list[i].Match.Matches(key, context)) return list[i];
        return null;
    }
}
