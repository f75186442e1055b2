/**
 * A TCP forwarder (Bun.listen -> Bun.connect) in front of sshd, to count
 * connections and break the network on purpose:
 * - blackhole(): bytes in both directions are dropped, sockets stay open
 *   (a dropped network: only keepalives can notice)
 * - resume(): forward again (connections already blackholed are broken for
 *   good: their bytes were lost, as ssh's would be)
 * - reset(): destroy every connection (RST-like)
 * - close(): reset() and stop listening
 */
import type { Socket, TCPSocketListener } from "bun";

interface Pair {
  client: Socket<PairData>;
  upstream: Socket<PairData> | undefined;
  /** bytes from the client waiting for the upstream connection or drain */
  toUpstream: Uint8Array[];
  toClient: Uint8Array[];
  closed: boolean;
}

interface PairData {
  pair: Pair | undefined;
  side: "client" | "upstream";
}

export class TcpProxy {
  readonly port: number;
  /** connections accepted so far */
  accepted = 0;
  private readonly pairs = new Set<Pair>();
  private holed = false;
  private readonly listener: TCPSocketListener<PairData>;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {
    this.listener = Bun.listen<PairData>({
      hostname: "127.0.0.1",
      port: 0,
      data: { pair: undefined, side: "client" },
      socket: {
        open: (sock) => this.onOpen(sock),
        data: (sock, data) => {
          const pair = sock.data.pair;
          if (pair === undefined || this.holed) return;
          if (pair.upstream === undefined) pair.toUpstream.push(Uint8Array.from(data));
          else send(pair.upstream, pair.toUpstream, data);
        },
        drain: (sock) => {
          const pair = sock.data.pair;
          if (pair !== undefined) flush(sock, pair.toClient);
        },
        close: (sock) => this.end(sock.data.pair),
        error: (sock) => this.end(sock.data.pair),
      },
    });
    this.port = this.listener.port;
  }

  /** connections currently open (client side) */
  get liveConnections(): number {
    return this.pairs.size;
  }

  blackhole(): void {
    this.holed = true;
  }

  resume(): void {
    this.holed = false;
  }

  reset(): void {
    // deleting the current element while iterating a Set is safe
    for (const p of this.pairs) this.end(p, true);
  }

  close(): void {
    this.reset();
    this.listener.stop(true);
  }

  private onOpen(sock: Socket<PairData>): void {
    this.accepted++;
    const pair: Pair = { client: sock, upstream: undefined, toUpstream: [], toClient: [], closed: false };
    sock.data = { pair, side: "client" };
    this.pairs.add(pair);
    Bun.connect<PairData>({
      hostname: this.targetHost,
      port: this.targetPort,
      data: { pair, side: "upstream" },
      socket: {
        open: (up) => {
          if (pair.closed) {
            up.end();
            return;
          }
          pair.upstream = up;
          flush(up, pair.toUpstream);
        },
        data: (_up, data) => {
          if (this.holed || pair.closed) return;
          send(pair.client, pair.toClient, data);
        },
        drain: (up) => flush(up, pair.toUpstream),
        close: () => this.end(pair),
        error: () => this.end(pair),
        connectError: () => this.end(pair),
      },
    }).catch(() => this.end(pair));
  }

  /** one side closed: close the other (abort: tear both down at once) */
  private end(pair: Pair | undefined, abort = false): void {
    if (pair === undefined || pair.closed) return;
    pair.closed = true;
    this.pairs.delete(pair);
    if (abort) {
      pair.client.terminate();
      pair.upstream?.terminate();
    } else {
      pair.client.end();
      pair.upstream?.end();
    }
  }
}

/** writes data after anything queued; queues what the socket did not take */
function send(sock: Socket<PairData>, queue: Uint8Array[], data: Uint8Array): void {
  if (queue.length > 0) {
    queue.push(Uint8Array.from(data));
    return;
  }
  const n = sock.write(data);
  if (n < data.length) queue.push(Uint8Array.from(data.subarray(Math.max(0, n))));
}

function flush(sock: Socket<PairData>, queue: Uint8Array[]): void {
  while (queue.length > 0) {
    const head = queue[0] as Uint8Array;
    const n = sock.write(head);
    if (n < head.length) {
      queue[0] = head.subarray(Math.max(0, n));
      return;
    }
    queue.shift();
  }
}
