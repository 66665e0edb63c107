using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Messaging;

/// <summary>The protobuf parser of each storage message type (headers of the framed protocol).</summary>
public static class StorageMessages
{
    private static readonly MessageParser?[] Parsers = Build();

    public static IMessage? Parse(StorageMessageType type, ReadOnlySpan<byte> header)
    {
        int index = (int)type;
        if (index <= 0 || index >= Parsers.Length || Parsers[index] is null)
        {
            return null;
        }
        return Parsers[index]!.ParseFrom(header);
    }

    private static MessageParser?[] Build()
    {
        var parsers = new MessageParser?[32];
        parsers[(int)StorageMessageType.MsgHello] = Hello.Parser;
        parsers[(int)StorageMessageType.MsgClientOp] = ClientOp.Parser;
        parsers[(int)StorageMessageType.MsgClientOpReply] = ClientOpReply.Parser;
        parsers[(int)StorageMessageType.MsgRepOp] = RepOp.Parser;
        parsers[(int)StorageMessageType.MsgRepOpReply] = RepOpReply.Parser;
        parsers[(int)StorageMessageType.MsgPgQuery] = PgQuery.Parser;
        parsers[(int)StorageMessageType.MsgPgNotify] = PgNotify.Parser;
        parsers[(int)StorageMessageType.MsgPgLogRequest] = PgLogRequest.Parser;
        parsers[(int)StorageMessageType.MsgPgLogReply] = PgLogReply.Parser;
        parsers[(int)StorageMessageType.MsgPgListRequest] = PgListRequest.Parser;
        parsers[(int)StorageMessageType.MsgPgListReply] = PgListReply.Parser;
        parsers[(int)StorageMessageType.MsgPgActivate] = PgActivate.Parser;
        parsers[(int)StorageMessageType.MsgPgActivateReply] = PgActivateReply.Parser;
        parsers[(int)StorageMessageType.MsgPush] = Push.Parser;
        parsers[(int)StorageMessageType.MsgPushReply] = PushReply.Parser;
        parsers[(int)StorageMessageType.MsgPullRequest] = PullRequest.Parser;
        parsers[(int)StorageMessageType.MsgReplicaRead] = ReplicaRead.Parser;
        parsers[(int)StorageMessageType.MsgReplicaReadReply] = ReplicaReadReply.Parser;
        parsers[(int)StorageMessageType.MsgPgRemove] = PgRemove.Parser;
        parsers[(int)StorageMessageType.MsgPing] = Ping.Parser;
        parsers[(int)StorageMessageType.MsgScrubRequest] = ScrubRequest.Parser;
        parsers[(int)StorageMessageType.MsgScrubMap] = ScrubMap.Parser;
        return parsers;
    }
}
