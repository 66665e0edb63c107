using System.CommandLine;
using System.Text.Json.Nodes;
using Fabric.Cli.Output;
using Fabric.Core.Map;
using Fabric.Core.Vm;
using Fabric.Proto;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Streams;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric vm create|start|stop|reboot|pause|resume|list|show|console|rm`. Placement and the start/stop intent
/// go through the map (see <see cref="VmLauncher"/>); "now" operations (stop with its timeout, reboot, pause,
/// resume, console) go to the VmAgent of the node the VM runs on.
/// </summary>
public static class VmCommands
{
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(180);

    public static Command Create(GlobalOptions globals)
    {
        var vm = new Command("vm", "Virtual machines: create, start, stop, reboot, list, show, console, rm, migrate, migrations");
        vm.Subcommands.Add(CreateCommand(globals));
        vm.Subcommands.Add(StartCommand(globals));
        vm.Subcommands.Add(StopCommand(globals));
        vm.Subcommands.Add(RebootCommand(globals));
        vm.Subcommands.Add(PauseCommand(globals, "pause", pause: true));
        vm.Subcommands.Add(PauseCommand(globals, "resume", pause: false));
        vm.Subcommands.Add(ListCommand(globals));
        vm.Subcommands.Add(ShowCommand(globals));
        vm.Subcommands.Add(ConsoleCommand(globals));
        vm.Subcommands.Add(RemoveCommand(globals));
        vm.Subcommands.Add(VmMigrateCommands.MigrateCommand(globals));
        vm.Subcommands.Add(VmMigrateCommands.MigrationsCommand(globals));
        return vm;
    }

    private static Argument<string> VmArgument() => new("VM") { Description = "VM name" };

    private static Option<int> WaitOption() => new("--timeout") { Description = "Seconds to wait for the VM to be running", DefaultValueFactory = _ => (int)DefaultWait.TotalSeconds };

    // ---- create ----

    private static Command CreateCommand(GlobalOptions globals)
    {
        var name = new Argument<string?>("VM") { Description = "VM name (or use --file)", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file", "-f") { Description = "A TOML file of [[vm]] tables (the keys of cluster.example.toml's [[vm]])" };
        var memory = new Option<string>("--memory") { Description = "Memory, e.g. 256MiB", DefaultValueFactory = _ => "256MiB" };
        var vcpus = new Option<int>("--vcpus") { Description = "Virtual CPUs", DefaultValueFactory = _ => 1 };
        var disk = new Option<string[]>("--disk") { Description = "A volume as a disk (repeatable): VOL, VOL:ro for read-only, then ,cache=writeback|writethrough|none if wanted", AllowMultipleArgumentsPerToken = false };
        var nic = new Option<string[]>("--nic") { Description = "A NIC: net=NETWORK[,mac=MAC][,ip=ADDR/PREFIX] (repeatable)", AllowMultipleArgumentsPerToken = false };
        var image = new Option<string?>("--image") { Description = "Guest image (default: tiny, unless --kernel or --boot-from-disk)" };
        var bootFromDisk = new Option<bool>("--boot-from-disk") { Description = "Boot the first disk (BIOS) instead of a kernel" };
        var kernel = new Option<string?>("--kernel") { Description = "Kernel file (on the nodes)" };
        var initrd = new Option<string?>("--initrd") { Description = "Initrd file (on the nodes)" };
        var cmdline = new Option<string?>("--cmdline") { Description = "Kernel command line (appended for images)" };
        var workload = new Option<string?>("--workload") { Description = "A shell script the tiny guest runs after boot" };
        var node = new Option<string?>("--node") { Description = "Pin the VM to a node (default: the scheduler picks the node with the most free memory)" };
        var restart = new Option<string?>("--restart") { Description = "Restart policy when QEMU dies: no or on-crash" };
        var accel = new Option<string?>("--accel") { Description = "auto, kvm or tcg" };
        var stopTimeout = new Option<string?>("--stop-timeout") { Description = "How long a graceful stop may take before QEMU is forced (e.g. 30s)" };
        var ha = new Option<bool>("--ha") { Description = "Restart elsewhere when its node is declared down" };
        var noStart = new Option<bool>("--no-start") { Description = "Define the VM only" };
        var noWait = new Option<bool>("--no-wait") { Description = "Do not wait for the VM to run" };
        var timeout = WaitOption();
        var create = new Command("create", "Define VMs (from flags or a file of [[vm]] tables), place and start them");
        create.Arguments.Add(name);
        foreach (var o in new Option[] { file, memory, vcpus, disk, nic, image, bootFromDisk, kernel, initrd, cmdline, workload, node, restart, accel, stopTimeout, ha, noStart, noWait, timeout }) create.Options.Add(o);
        globals.SetAction(create, async (parse, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            IReadOnlyList<VmSpec> specs;
            if (parse.GetValue(file) is { } path)
            {
                if (parse.GetValue(name) is not null) throw new CliException("give either a VM name with flags or --file, not both", CliException.Usage);
                specs = VmSpecs.FromFile(path, map, context.Out);
            }
            else
            {
                var vmName = parse.GetValue(name) ?? throw new CliException("name the VM (fabric vm create NAME --memory 256MiB ...) or give --file FILE", CliException.Usage);
                specs = [VmSpecs.FromFlags(vmName, new VmSpecs.Flags
                {
                    Memory = parse.GetValue(memory)!,
                    Vcpus = parse.GetValue(vcpus),
                    Disks = parse.GetValue(disk) ?? [],
                    Nics = parse.GetValue(nic) ?? [],
                    Image = parse.GetValue(image),
                    Kernel = parse.GetValue(kernel),
                    Initrd = parse.GetValue(initrd),
                    Cmdline = parse.GetValue(cmdline),
                    Workload = parse.GetValue(workload),
                    Node = parse.GetValue(node),
                    Restart = parse.GetValue(restart),
                    Accel = parse.GetValue(accel),
                    StopTimeout = parse.GetValue(stopTimeout),
                    Ha = parse.GetValue(ha),
                    BootFromDisk = parse.GetValue(bootFromDisk),
                }, map)];
            }
            var start = !parse.GetValue(noStart);
            var created = await CreateAsync(context, specs, start, cancellationToken).ConfigureAwait(false);
            var results = new JsonArray();
            foreach (var (spec, where) in created)
            {
                var entry = new JsonObject { ["name"] = spec.Name, ["node"] = where, ["state"] = start ? "starting" : "defined" };
                if (start && !parse.GetValue(noWait))
                {
                    context.Out.Note($"VM {spec.Name} created; starting on {where}");
                    var info = await VmLauncher.WaitRunningAsync(context.Monitors, spec.Name, 1, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken).ConfigureAwait(false);
                    entry["state"] = info.State.StateText();
                    entry["generation"] = info.Generation;
                }
                results.Add(entry);
                if (!context.Json) context.Out.Line($"VM {spec.Name} {(start ? (parse.GetValue(noWait) ? "created; starting" : "is running") + " on " + where : "defined (fabric vm start " + spec.Name + " starts it)")}");
            }
            if (context.Json) context.Out.WriteJson(new JsonObject { ["vms"] = results });
            return 0;
        });
        return create;
    }

    /// <summary>
    /// Creates every VM in one transaction (all or none), each placed on the map as the earlier ones of the same
    /// call left it; checked against a local application of the transaction first so a refusal names the VM.
    /// </summary>
    private static async Task<IReadOnlyList<(VmSpec Spec, string Node)>> CreateAsync(CliContext context, IReadOnlyList<VmSpec> specs, bool start, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var working = map;
            var changes = new List<MapChange>();
            var placed = new List<(VmSpec, string)>();
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var spec in specs)
            {
                if (working.FindVm(spec.Name) is not null) throw new CliException($"VM {spec.Name} already exists (fabric vm show {spec.Name})");
                if (VmLauncher.DiskConflict(working, spec) is { } conflict) throw new CliException(conflict);
                var step = new List<MapChange> { new() { VmCreate = new VmCreate { Spec = spec } } };
                var where = spec.Node.Length > 0 ? spec.Node : "";
                if (start)
                {
                    var placement = VmPlacement.Choose(working, spec);
                    if (!placement.Ok) throw new CliException(placement.Error!);
                    step.Add(VmLauncher.StartChange(new VmInfo { Spec = spec }, placement.Node!));
                    where = placement.Node!.Name;
                }
                var check = new MapTransaction();
                check.Changes.AddRange(step);
                var applied = MapTransactions.Apply(working, check, now);
                if (!applied.Ok) throw new CliException(applied.Error!.Message);
                working = applied.Map!;
                changes.AddRange(step);
                placed.Add((spec, where));
            }
            var tx = new MapTransaction { BaseEpoch = map.Epoch, Reason = $"create VM{(specs.Count > 1 ? "s" : "")} {string.Join(", ", specs.Select(s => s.Name))}" };
            tx.Changes.AddRange(changes);
            try
            {
                await context.Monitors.ProposeAsync(tx, cancellationToken).ConfigureAwait(false);
                return placed;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted && attempt < 6)
            {
            }
            catch (RpcException e)
            {
                throw new CliException(e.Detail, e.StatusCode == StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed);
            }
        }
    }

    // ---- start / stop / reboot / pause ----

    private static Command StartCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var node = new Option<string?>("--node") { Description = "Start it on this node (default: the scheduler's choice; a pinned VM moves its pin)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Do not wait for the VM to run" };
        var timeout = WaitOption();
        var start = new Command("start", "Start a VM (placed by the scheduler unless pinned or --node)");
        start.Arguments.Add(name);
        start.Options.Add(node);
        start.Options.Add(noWait);
        start.Options.Add(timeout);
        globals.SetAction(start, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var started = await VmLauncher.StartAsync(context.Monitors, vmName, parse.GetValue(node), cancellationToken).ConfigureAwait(false);
            var state = "starting";
            if (!parse.GetValue(noWait))
            {
                if (!started.WasRunning) context.Out.Note($"starting VM {vmName} on {started.Node}");
                var info = await VmLauncher.WaitRunningAsync(context.Monitors, vmName, started.Generation, TimeSpan.FromSeconds(parse.GetValue(timeout)), cancellationToken).ConfigureAwait(false);
                state = info.State.StateText();
            }
            if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["node"] = started.Node, ["state"] = state, ["generation"] = started.Generation, ["was_running"] = started.WasRunning });
            else context.Out.Line(started.WasRunning ? $"VM {vmName} is already running on {started.Node}" : $"VM {vmName} is {state} on {started.Node}");
            return 0;
        });
        return start;
    }

    private static Command StopCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var timeout = new Option<string?>("--timeout") { Description = "How long the guest may take to power off before QEMU is forced (default: the VM's stop_timeout)" };
        var stop = new Command("stop", "Stop a VM: ACPI power-off, forced after its stop timeout; it is not started again until `fabric vm start`");
        stop.Arguments.Add(name);
        stop.Options.Add(timeout);
        globals.SetAction(stop, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            TimeSpan? powerOff = null;
            if (parse.GetValue(timeout) is { } text)
            {
                if (!Core.Units.DurationText.TryParse(text, out var parsed, out var error)) throw new CliException($"--timeout: {error}", CliException.Usage);
                powerOff = parsed;
            }
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
            var node = map.FindNode(vm.NodeId);
            string outcome;
            if (!vm.WantRunning && !VmPlacement.IsLive(vm.State))
            {
                outcome = $"VM {vmName} is {vm.State.StateText()} already";
            }
            else if (node is { State: NodeState.Up })
            {
                var wait = (powerOff ?? TimeSpan.FromMilliseconds(vm.Spec.StopTimeoutMs > 0 ? vm.Spec.StopTimeoutMs : 30000)) + TimeSpan.FromSeconds(30);
                using var agent = new VmAgentClient(node);
                VmOpReply reply;
                try
                {
                    reply = await agent.StopAsync(vmName, powerOff, wait, cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException e) when (VmAgentClient.IsUnreachable(e))
                {
                    await MarkStoppedAsync(context, vm, $"stop requested while node {node.Name} did not answer", cancellationToken).ConfigureAwait(false);
                    throw new CliException($"node {node.Name} does not answer ({e.Detail}); VM {vmName} is marked not wanted and stops when the node is back");
                }
                if (!reply.Ok && reply.Code != "not_found") throw new CliException($"stopping VM {vmName} on {node.Name} failed: {reply.Error}");
                if (reply.Code == "not_found")
                {
                    await MarkStoppedAsync(context, vm, $"not running on {node.Name}", cancellationToken).ConfigureAwait(false);
                }
                var after = await VmLauncher.WaitStoppedAsync(context.Monitors, vmName, TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
                outcome = $"VM {vmName} is {after?.State.StateText() ?? "gone"}{(after is { StateReason.Length: > 0 } ? $" ({after.StateReason})" : "")}";
            }
            else
            {
                await MarkStoppedAsync(context, vm, $"stopped while its node {node?.Name ?? "(none)"} is down", cancellationToken).ConfigureAwait(false);
                outcome = $"VM {vmName} is marked stopped (its node {node?.Name ?? "(none)"} is down)";
            }
            var final = (await context.MapAsync(cancellationToken).ConfigureAwait(false)).FindVm(vmName);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["state"] = final?.State.StateText(), ["reason"] = final?.StateReason, ["node"] = node?.Name });
            else context.Out.Line(outcome);
            return 0;
        });
        return stop;
    }

    /// <summary>The map alone says stopped (the node is gone or never ran it): want_running off, state stopped.</summary>
    private static Task<ulong> MarkStoppedAsync(CliContext context, VmInfo vm, string reason, CancellationToken cancellationToken)
    {
        var update = new VmUpdate { Name = vm.Spec.Name, WantRunning = false, State = VmState.Stopped, StateReason = reason, ExpectGeneration = vm.Generation };
        update.Fields.Add("want_running");
        update.Fields.Add("state");
        return context.ApplyAsync($"stop VM {vm.Spec.Name}", cancellationToken, new MapChange { VmUpdate = update });
    }

    private static async Task<(VmInfo Vm, NodeInfo Node)> RunningOnAsync(CliContext context, string vmName, CancellationToken cancellationToken)
    {
        var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
        var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
        var node = map.FindNode(vm.NodeId);
        if (node is null || !VmPlacement.IsLive(vm.State)) throw new CliException($"VM {vmName} is {vm.State.StateText()}, not running (fabric vm start {vmName})");
        return (vm, node);
    }

    private static Command RebootCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var reboot = new Command("reboot", "Reboot a VM: ACPI power-off and reset; a hard reset after its stop timeout");
        reboot.Arguments.Add(name);
        globals.SetAction(reboot, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var (vm, node) = await RunningOnAsync(context, vmName, cancellationToken).ConfigureAwait(false);
            using var agent = new VmAgentClient(node);
            var wait = TimeSpan.FromMilliseconds(vm.Spec.StopTimeoutMs > 0 ? vm.Spec.StopTimeoutMs : 30000) + TimeSpan.FromSeconds(30);
            var reply = await agent.RebootAsync(vmName, null, wait, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok) throw new CliException($"rebooting VM {vmName} on {node.Name} failed: {reply.Error}");
            if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["node"] = node.Name, ["state"] = reply.State.StateText() });
            else context.Out.Line($"VM {vmName} rebooted on {node.Name}");
            return 0;
        });
        return reboot;
    }

    private static Command PauseCommand(GlobalOptions globals, string verb, bool pause)
    {
        var name = VmArgument();
        var command = new Command(verb, pause ? "Pause a running VM (its vCPUs stop)" : "Resume a paused VM");
        command.Arguments.Add(name);
        globals.SetAction(command, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var (_, node) = await RunningOnAsync(context, vmName, cancellationToken).ConfigureAwait(false);
            using var agent = new VmAgentClient(node);
            var reply = await agent.PauseAsync(vmName, pause, cancellationToken).ConfigureAwait(false);
            if (!reply.Ok) throw new CliException($"{verb} of VM {vmName} on {node.Name} failed: {reply.Error}");
            if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["node"] = node.Name, ["state"] = reply.State.StateText() });
            else context.Out.Line($"VM {vmName} is {reply.State.StateText()} on {node.Name}");
            return 0;
        });
        return command;
    }

    // ---- list / show ----

    private static Command ListCommand(GlobalOptions globals)
    {
        var list = new Command("list", "Every VM: node, state, memory, disks, NICs");
        globals.SetAction(list, async (_, context, cancellationToken) =>
        {
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonArray(map.Vms.Select(v => (JsonNode)VmJson(map, v)).ToArray()));
                return 0;
            }
            var table = Output.Output.Table("name", "node", "state", "want", "vcpus", "memory", "disks", "nics", "gen", "reason");
            foreach (var v in map.Vms)
            {
                var where = (map.FindNode(v.NodeId)?.Name ?? "-") + (v.MigratingTo != 0 ? $" -> {map.FindNode(v.MigratingTo)?.Name}" : "");
                table.AddRow(Output.Output.Esc(v.Spec.Name), Output.Output.Esc(where), StateMarkup(v.State), v.WantRunning ? "running" : "stopped",
                    v.Spec.Vcpus.ToString(), Units.Bytes(v.Spec.MemoryBytes), Output.Output.Esc(string.Join(", ", v.Spec.Disks.Select(d => d.Volume + (d.ReadOnly ? " (ro)" : "")))),
                    Output.Output.Esc(string.Join(", ", v.Spec.Nics.Select(n => $"{n.Network} {n.Ip}".Trim()))), v.Generation.ToString(), Output.Output.Esc(v.StateReason));
            }
            context.Out.Write(table);
            context.Out.Line($"map epoch {map.Epoch}");
            return 0;
        });
        return list;
    }

    private static string StateMarkup(VmState state) => state switch
    {
        VmState.Running => "[green]running[/]",
        VmState.Crashed => "[red]crashed[/]",
        VmState.Starting or VmState.Stopping or VmState.Migrating or VmState.Paused => $"[yellow]{state.StateText()}[/]",
        _ => state.StateText(),
    };

    public static JsonObject VmJson(ClusterMap map, VmInfo v) => new()
    {
        ["name"] = v.Spec.Name,
        ["id"] = v.Id,
        ["node"] = map.FindNode(v.NodeId)?.Name,
        ["state"] = v.State.StateText(),
        ["migrating_to"] = v.MigratingTo != 0 ? map.FindNode(v.MigratingTo)?.Name : null,
        ["want_running"] = v.WantRunning,
        ["state_reason"] = v.StateReason,
        ["generation"] = v.Generation,
        ["vcpus"] = v.Spec.Vcpus,
        ["memory_bytes"] = v.Spec.MemoryBytes,
        ["pinned_node"] = v.Spec.Node.Length > 0 ? v.Spec.Node : null,
        ["disks"] = new JsonArray(v.Spec.Disks.Select(d => (JsonNode)new JsonObject { ["volume"] = d.Volume, ["transport"] = d.Transport, ["read_only"] = d.ReadOnly, ["cache"] = d.Cache.Length > 0 ? d.Cache : "default" }).ToArray()),
        ["nics"] = new JsonArray(v.Spec.Nics.Select(n => (JsonNode)new JsonObject { ["network"] = n.Network, ["mac"] = n.Mac, ["ip"] = n.Ip }).ToArray()),
        ["ha"] = v.Spec.Ha,
        ["restart"] = v.Spec.Restart,
    };

    private static Command ShowCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var show = new Command("show", "One VM: its map entry and what its node reports (pid, accelerator, console log)");
        show.Arguments.Add(name);
        globals.SetAction(show, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
            var node = map.FindNode(vm.NodeId);
            VmRuntimeStatus? live = null;
            string? liveError = null;
            if (node is { State: NodeState.Up })
            {
                try
                {
                    using var agent = new VmAgentClient(node);
                    live = await agent.StatusAsync(vmName, cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException e)
                {
                    liveError = e.Detail;
                }
            }
            if (context.Json)
            {
                var json = VmJson(map, vm);
                json["kernel"] = vm.Spec.Kernel;
                json["cmdline"] = vm.Spec.Cmdline;
                if (live is not null)
                {
                    json["live"] = new JsonObject
                    {
                        ["state"] = live.State.StateText(), ["reason"] = live.Reason, ["pid"] = live.Pid, ["accel"] = live.Accel, ["generation"] = live.Generation,
                        ["started_unix_ms"] = live.StartedUnixMs, ["restarts"] = live.Restarts, ["console_log"] = live.ConsoleLog,
                    };
                }
                else if (liveError is not null)
                {
                    json["live_error"] = liveError;
                }
                context.Out.WriteJson(json);
                return 0;
            }
            var o = context.Out;
            o.Line($"VM {vmName} (id {vm.Id}, generation {vm.Generation})");
            o.Line($"  state:    {vm.State.StateText()}{(vm.StateReason.Length > 0 ? $" ({vm.StateReason})" : "")}; wanted {(vm.WantRunning ? "running" : "stopped")}");
            o.Line($"  node:     {node?.Name ?? "(not placed)"}{(vm.Spec.Node.Length > 0 ? $" (pinned to {vm.Spec.Node})" : "")}");
            o.Line($"  size:     {vm.Spec.Vcpus} vCPU, {Units.Bytes(vm.Spec.MemoryBytes)}");
            foreach (var d in vm.Spec.Disks) o.Line($"  disk:     {d.Volume} ({(d.Transport.Length > 0 ? d.Transport : "vhost-user")}{(d.ReadOnly ? ", read-only" : "")}{(d.Cache.Length > 0 ? $", cache {d.Cache}" : "")})");
            foreach (var n in vm.Spec.Nics) o.Line($"  nic:      {n.Network} {n.Mac} {n.Ip}");
            o.Line($"  boot:     {(vm.Spec.BootFromDisk ? "first disk" : vm.Spec.Kernel)}");
            if (live is not null)
            {
                o.Line($"  qemu:     pid {live.Pid}, {live.Accel}, {live.State.StateText()} ({live.Reason}), restarts {live.Restarts}");
                o.Line($"  console:  {live.ConsoleLog} (fabric vm console {vmName})");
            }
            else if (liveError is not null)
            {
                o.Line($"  qemu:     node {node?.Name} did not answer ({liveError})");
            }
            return 0;
        });
        return show;
    }

    // ---- console ----

    private static Command ConsoleCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing as the console grows (Ctrl+C ends)" };
        var tail = new Option<long?>("--tail") { Description = "Only the last N bytes" };
        var console = new Command("console", "The VM's serial console log (from the node it runs or last ran on)");
        console.Arguments.Add(name);
        console.Options.Add(follow);
        console.Options.Add(tail);
        globals.SetAction(console, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
            var node = map.FindNode(vm.NodeId) ?? throw new CliException($"VM {vmName} has never been placed on a node, so it has no console yet");
            var offset = parse.GetValue(tail) is { } t ? -Math.Abs(t) : 0;
            using var agent = new VmAgentClient(node);
            if (!parse.GetValue(follow))
            {
                var chunk = await agent.ReadConsoleAsync(vmName, offset, cancellationToken).ConfigureAwait(false);
                var text = new System.Text.StringBuilder(chunk.Text);
                // Larger logs come in pieces.
                while (chunk.Text.Length > 0 && offset >= 0)
                {
                    chunk = await agent.ReadConsoleAsync(vmName, chunk.NextOffset, cancellationToken).ConfigureAwait(false);
                    text.Append(chunk.Text);
                }
                if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["node"] = node.Name, ["text"] = text.ToString(), ["next_offset"] = chunk.NextOffset });
                else Console.Out.Write(text.ToString());
                return 0;
            }
            if (context.Json) throw new CliException("--follow prints the console as text; use it without --json", CliException.Usage);
            using var call = agent.FollowConsoleAsync(vmName, offset, cancellationToken);
            try
            {
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    Console.Out.Write(chunk.Text);
                    Console.Out.Flush();
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            return 0;
        });
        return console;
    }

    // ---- rm ----

    private static Command RemoveCommand(GlobalOptions globals)
    {
        var name = VmArgument();
        var rm = new Command("rm", "Remove a stopped VM from the cluster (its disks stay; its console log goes)");
        rm.Arguments.Add(name);
        globals.SetAction(rm, async (parse, context, cancellationToken) =>
        {
            var vmName = parse.GetValue(name)!;
            var map = await context.MapAsync(cancellationToken).ConfigureAwait(false);
            var vm = map.FindVm(vmName) ?? throw new CliException($"VM {vmName} does not exist (fabric vm list shows the VMs)");
            if (vm.WantRunning || VmPlacement.IsLive(vm.State))
            {
                throw new CliException($"VM {vmName} is {(VmPlacement.IsLive(vm.State) ? vm.State.StateText() : "wanted running")}; stop it first (fabric vm stop {vmName})");
            }
            var epoch = await context.ApplyAsync($"remove VM {vmName}", cancellationToken, new MapChange { VmDelete = new VmDelete { Name = vmName } }).ConfigureAwait(false);
            if (context.Json) context.Out.WriteJson(new JsonObject { ["name"] = vmName, ["removed"] = true, ["epoch"] = epoch });
            else context.Out.Line($"VM {vmName} removed (map epoch {epoch})");
            return 0;
        });
        return rm;
    }
}
