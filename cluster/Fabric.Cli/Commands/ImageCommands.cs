using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Cli.Local;

namespace Fabric.Cli.Commands;

/// <summary>
/// `fabric image build [--out DIR]`: builds the tiny guest (Debian's cloud kernel + a busybox initramfs whose
/// /init follows the kernel command line) with the node's own Guest/build-image.sh, by default into
/// $FABRIC_HOME/images/tiny, where nodes on this machine look for `image = "tiny"`. Re-running with the same
/// inputs does nothing. Nodes also build it on first use.
/// </summary>
public static class ImageCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var image = new Command("image", "Guest images for VMs");
        var output = new Option<string?>("--out") { Description = "Output directory (default: $FABRIC_HOME/images/tiny)" };
        var build = new Command("build", "Build the tiny guest image (kernel + busybox initramfs)");
        build.Options.Add(output);
        globals.SetAction(build, async (parse, context, cancellationToken) =>
        {
            var outDir = Path.GetFullPath(parse.GetValue(output) ?? Path.Combine(context.Home, "images", "tiny"));
            var script = Path.Combine(Path.GetDirectoryName(NodeBinary.Locate())!, "Guest", "build-image.sh");
            if (!File.Exists(script)) throw new CliException($"the guest image script is missing ({script}); rebuild the node (dotnet build node/Fabric.Node -c Release)");
            context.Out.Note($"building the guest image into {outDir} ...");
            var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(outDir);
            var watch = Stopwatch.StartNew();
            using var process = Process.Start(start) ?? throw new CliException("could not start bash");
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            await stdout.ConfigureAwait(false);
            var errors = (await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0) throw new CliException($"building the guest image failed: {errors}");
            var version = File.ReadAllText(Path.Combine(outDir, "image.txt")).Split(' ')[0].Trim();
            var kernel = Path.Combine(outDir, "vmlinuz");
            var initrd = Path.Combine(outDir, "initrd.img");
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["out"] = outDir, ["kernel"] = kernel, ["initrd"] = initrd, ["kernel_version"] = version,
                    ["initrd_bytes"] = new FileInfo(initrd).Length, ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
                });
            }
            else
            {
                context.Out.Line($"guest image in {outDir}: kernel {version}, initrd {Output.Units.Bytes((ulong)new FileInfo(initrd).Length)} ({watch.Elapsed.TotalSeconds:0.0} s)");
            }
            return 0;
        });
        image.Subcommands.Add(build);
        return image;
    }
}
