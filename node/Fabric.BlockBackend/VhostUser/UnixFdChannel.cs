using Fabric.BlockBackend.Native;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// A connected unix stream socket spoken to with recvmsg/sendmsg so file descriptors can travel with the
/// bytes (SCM_RIGHTS). Blocking calls; <see cref="Shutdown"/> from another thread ends a blocked read.
/// </summary>
internal sealed unsafe class UnixFdChannel : IDisposable
{
    private const int ControlBytes = 16 + 4 * VhostUserProtocol.MaxFdsPerMessage; // CMSG_SPACE(8 fds)
    private int _fd;

    public UnixFdChannel(int fd) => _fd = fd;

    public int Fd => _fd;

    /// <summary>Reads exactly buffer.Length bytes, collecting any fds that arrive. 0 = clean EOF before any byte;
    /// -1 = error/EOF mid-message (reason in <paramref name="error"/>).</summary>
    public int ReadExactly(Span<byte> buffer, List<int> fds, out string? error)
    {
        error = null;
        int done = 0;
        byte* control = stackalloc byte[ControlBytes];
        while (done < buffer.Length)
        {
            fixed (byte* p = buffer)
            {
                var iov = new Libc.IoVec { Base = p + done, Length = (nuint)(buffer.Length - done) };
                var msg = new Libc.MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlBytes };
                // SAFETY: iov points into the pinned buffer's remaining bytes; control is ControlBytes of stack.
                nint n = Libc.RecvMsg(_fd, &msg, Libc.MSG_CMSG_CLOEXEC);
                if (n < 0)
                {
                    int errno = Libc.LastError;
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }
                    error = $"recvmsg failed: {Libc.ErrorText(errno)}";
                    return -1;
                }
                CollectFds(&msg, fds);
                if ((msg.Flags & 0x8) != 0) // MSG_CTRUNC: more fds than we accept
                {
                    error = $"more than {VhostUserProtocol.MaxFdsPerMessage} file descriptors attached to one message";
                    return -1;
                }
                if (n == 0)
                {
                    if (done == 0)
                    {
                        return 0;
                    }
                    error = "the front-end closed the socket in the middle of a message";
                    return -1;
                }
                done += (int)n;
            }
        }
        return done;
    }

    private static void CollectFds(Libc.MsgHdr* msg, List<int> fds)
    {
        byte* c = (byte*)msg->Control;
        nuint left = msg->ControlLength;
        while (left >= (nuint)sizeof(Libc.CmsgHdr))
        {
            var h = (Libc.CmsgHdr*)c;
            if (h->Length < (nuint)sizeof(Libc.CmsgHdr) || h->Length > left)
            {
                break;
            }
            if (h->Level == Libc.SOL_SOCKET && h->Type == Libc.SCM_RIGHTS)
            {
                int count = (int)((h->Length - (nuint)sizeof(Libc.CmsgHdr)) / 4);
                int* data = (int*)(c + sizeof(Libc.CmsgHdr));
                for (int i = 0; i < count; i++)
                {
                    fds.Add(data[i]);
                }
            }
            nuint step = (h->Length + 7) & ~(nuint)7;
            if (step >= left)
            {
                break;
            }
            c += step;
            left -= step;
        }
    }

    /// <summary>Sends all bytes, with an optional fd attached to the first chunk. False when the peer is gone.</summary>
    public bool Send(ReadOnlySpan<byte> data, int fd = -1)
    {
        byte* control = stackalloc byte[24];
        int done = 0;
        while (done < data.Length)
        {
            fixed (byte* p = data)
            {
                var iov = new Libc.IoVec { Base = p + done, Length = (nuint)(data.Length - done) };
                var msg = new Libc.MsgHdr { Iov = &iov, IovLength = 1 };
                if (fd >= 0 && done == 0)
                {
                    var h = (Libc.CmsgHdr*)control;
                    h->Length = (nuint)(sizeof(Libc.CmsgHdr) + 4);
                    h->Level = Libc.SOL_SOCKET;
                    h->Type = Libc.SCM_RIGHTS;
                    *(int*)(control + sizeof(Libc.CmsgHdr)) = fd;
                    msg.Control = control;
                    msg.ControlLength = 24; // CMSG_SPACE(4)
                }
                // SAFETY: iov points into the pinned data; control (when set) is 24 initialised stack bytes.
                nint n = Libc.SendMsg(_fd, &msg, Libc.MSG_NOSIGNAL);
                if (n < 0)
                {
                    if (Libc.LastError == Libc.EINTR)
                    {
                        continue;
                    }
                    return false;
                }
                done += (int)n;
            }
        }
        return true;
    }

    public void Shutdown()
    {
        int fd = Volatile.Read(ref _fd);
        if (fd >= 0)
        {
            Libc.Shutdown(fd, Libc.SHUT_RDWR);
        }
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Libc.Close(fd);
        }
    }
}
