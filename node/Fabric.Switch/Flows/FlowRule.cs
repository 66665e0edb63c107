namespace Fabric.Switch.Flows;

/// <summary>
/// One rule of one table. Higher priority wins; among equal priorities the rule added first wins, so a
/// lookup is deterministic. <see cref="Owner"/> names what installed the rule ("port:vm1-0",
/// "acl:overlay", "arp:overlay") so that it can be shown and replaced as a group.
/// </summary>
public sealed record FlowRule(int Table, int Priority, FlowMatch Match, FlowAction[] Actions, string Owner = "")
{
    public string Format(Func<int, string>? portName = null, Func<int, string>? networkName = null) =>
        $"table={Table}, priority={Priority}, {Match.Format(portName, networkName)} actions={string.Join(',', Actions.Select(a => a.Format(portName, networkName)))}"
        + (Owner.Length > 0 ? $" ({Owner})" : "");
}
