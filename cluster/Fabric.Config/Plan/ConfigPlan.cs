using Fabric.Proto;

namespace Fabric.Config.Plan;

/// <summary>
/// The result of planning a config against a map: the changes (in an order that
/// <c>MapTransactions.Apply</c> accepts as one transaction: creates and updates in dependency order,
/// then deletes in reverse dependency order), a line per entry for people, and the refused changes.
/// The changes are valid only against the map they were planned on: send them with
/// <see cref="BaseEpoch"/> (ids predicted for new pools depend on it). Apply only when
/// <see cref="Errors"/> is empty unless the operator accepts a partial change.
/// </summary>
public sealed record ConfigPlan(
    ulong BaseEpoch,
    IReadOnlyList<MapChange> Changes,
    IReadOnlyList<PlanLine> Lines,
    IReadOnlyList<PlanError> Errors)
{
    public bool HasChanges => Changes.Count > 0;

    public bool HasErrors => Errors.Count > 0;

    /// <summary>A transaction carrying the changes, based on the planned epoch.</summary>
    public MapTransaction ToTransaction(string requestId, string reason)
    {
        var transaction = new MapTransaction { BaseEpoch = BaseEpoch, RequestId = requestId, Reason = reason };
        transaction.Changes.AddRange(Changes.Select(change => change.Clone()));
        return transaction;
    }

    /// <summary>The plan as text: one line per entry, then the refused changes, then a summary.</summary>
    public string Render()
    {
        var text = new System.Text.StringBuilder();
        foreach (var line in Lines)
        {
            text.AppendLine(line.ToString());
        }

        foreach (var error in Errors)
        {
            text.Append("error: ").AppendLine(error.ToString());
        }

        var creates = Lines.Count(line => line.Action == PlanAction.Create);
        var updates = Lines.Count(line => line.Action == PlanAction.Update);
        var deletes = Lines.Count(line => line.Action == PlanAction.Delete);
        text.Append($"plan: {creates} to create, {updates} to change, {deletes} to delete");
        if (Errors.Count > 0)
        {
            text.Append($", {Errors.Count} refused");
        }

        return text.AppendLine().ToString();
    }
}
