/**
 * STAND-IN, NOT A MONGODB SERVER. MongoDB cannot run on these machines (it is not in Debian, and the
 * downloaders fetch binaries at run time, which fails here), so the mongodb tests point the *real* `mongodb`
 * driver at this small wire-protocol peer on loopback. It speaks just enough of the protocol for the driver
 * to connect and run commands: the legacy OP_QUERY handshake (answered with OP_REPLY), then OP_MSG for
 * `hello`/`isMaster`, `ping`, `insert`, `find` (one batch, cursor id 0), `getMore`/`killCursors` (empty),
 * `endSessions`, and an error reply for anything else. Documents live in memory, per namespace; `find`
 * matches top-level equality filters only. When `MONGODB_URL` is set, tests use the real server instead.
 *
 * (De)serialisation uses the `bson` package the driver itself depends on.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type * as BsonModule from 'bson';

// The driver's own BSON implementation (resolved from the installed `mongodb`'s dependency).
const bson = require('bson') as typeof BsonModule;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MAX_WIRE_VERSION = 21; // MongoDB 7.0; the v7 driver needs >= 9.
const CHECKSUM_PRESENT = 1;

type Doc = Record<string, unknown>;

export interface MongoPeer {
  /** `mongodb://127.0.0.1:<port>/?directConnection=true` */
  readonly url: string;
  readonly port: number;
  /** Command names received, in order (handshake and heartbeats included). */
  readonly commands: string[];
  /** Documents stored per `db.collection`. */
  readonly collections: Map<string, Doc[]>;
  close(): Promise<void>;
}

export interface MongoPeerOptions {
  /** Milliseconds to hold the reply to `command` (0 answers at once): lets a test keep pooled connections busy. */
  delayMs?: (command: Doc) => number;
}

/** Starts the stand-in peer on a free loopback port. */
export function startMongoPeer(options: MongoPeerOptions = {}): Promise<MongoPeer> {
  const commands: string[] = [];
  const collections = new Map<string, Doc[]>();
  const sockets = new Set<Socket>();
  let connectionId = 0;
  let nextResponseId = 1;

  const reply = (command: Doc, db: string): Doc => {
    const name = Object.keys(command)[0] ?? '';
    commands.push(name);
    switch (name) {
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        // Standalone server; no `topologyVersion`, so the driver polls instead of streaming heartbeats.
        return {
          helloOk: true,
          ismaster: true,
          isWritablePrimary: true,
          maxBsonObjectSize: 16 * 1024 * 1024,
          maxMessageSizeBytes: 48_000_000,
          maxWriteBatchSize: 100_000,
          localTime: new Date(),
          logicalSessionTimeoutMinutes: 30,
          connectionId: ++connectionId,
          minWireVersion: 0,
          maxWireVersion: MAX_WIRE_VERSION,
          readOnly: false,
          ok: 1,
        };
      case 'ping':
      case 'endSessions':
        return { ok: 1 };
      case 'buildInfo':
      case 'buildinfo':
        return { version: '7.0.0-standin', versionArray: [7, 0, 0, 0], ok: 1 };
      case 'insert': {
        const ns = `${db}.${String(command.insert)}`;
        const docs = (command.documents as Doc[] | undefined) ?? [];
        let list = collections.get(ns);
        if (list === undefined) collections.set(ns, (list = []));
        list.push(...docs);
        return { n: docs.length, ok: 1 };
      }
      case 'find': {
        const ns = `${db}.${String(command.find)}`;
        const filter = (command.filter as Doc | undefined) ?? {};
        const keys = Object.keys(filter);
        let batch = (collections.get(ns) ?? []).filter((d) => keys.every((k) => sameValue(d[k], filter[k])));
        const limit = Number(command.limit ?? 0);
        if (limit > 0) batch = batch.slice(0, limit);
        return { cursor: { id: bson.Long.fromNumber(0), ns, firstBatch: batch }, ok: 1 };
      }
      case 'getMore':
        return { cursor: { id: bson.Long.fromNumber(0), ns: `${db}.${String(command.collection)}`, nextBatch: [] }, ok: 1 };
      case 'killCursors':
        return { cursorsKilled: [], cursorsNotFound: command.cursors ?? [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
      default:
        return { ok: 0, errmsg: `no such command: '${name}' (test stand-in peer)`, code: 59, codeName: 'CommandNotFound' };
    }
  };

  const onMessage = (sock: Socket, msg: Buffer): void => {
    const requestId = msg.readInt32LE(4);
    const opCode = msg.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // flags(4) fullCollectionName(cstring) numberToSkip(4) numberToReturn(4) query(BSON)
      let i = 20;
      const nameEnd = msg.indexOf(0, i);
      const fullName = msg.toString('utf8', i, nameEnd);
      i = nameEnd + 1 + 8;
      const query = bson.deserialize(msg.subarray(i, i + msg.readInt32LE(i))) as Doc;
      const cmd = (query.$query as Doc | undefined) ?? query;
      const body = bson.serialize(reply(cmd, fullName.split('.')[0]));
      const out = Buffer.alloc(16 + 20 + body.length);
      writeHeader(out, nextResponseId++, requestId, OP_REPLY);
      out.writeInt32LE(0, 16); // responseFlags
      out.writeBigInt64LE(0n, 20); // cursorID
      out.writeInt32LE(0, 28); // startingFrom
      out.writeInt32LE(1, 32); // numberReturned
      Buffer.from(body).copy(out, 36);
      sock.write(out);
      return;
    }
    if (opCode !== OP_MSG) {
      sock.destroy();
      return;
    }
    const flags = msg.readUInt32LE(16);
    const end = flags & CHECKSUM_PRESENT ? msg.length - 4 : msg.length;
    let i = 20;
    let command: Doc = {};
    const sequences: [string, Doc[]][] = [];
    while (i < end) {
      const kind = msg[i++];
      if (kind === 0) {
        const size = msg.readInt32LE(i);
        command = bson.deserialize(msg.subarray(i, i + size)) as Doc;
        i += size;
      } else {
        const size = msg.readInt32LE(i);
        const sectionEnd = i + size;
        const idEnd = msg.indexOf(0, i + 4);
        const id = msg.toString('utf8', i + 4, idEnd);
        const docs: Doc[] = [];
        let j = idEnd + 1;
        while (j < sectionEnd) {
          const n = msg.readInt32LE(j);
          docs.push(bson.deserialize(msg.subarray(j, j + n)) as Doc);
          j += n;
        }
        sequences.push([id, docs]);
        i = sectionEnd;
      }
    }
    for (const [id, docs] of sequences) command[id] = docs;
    const body = Buffer.from(bson.serialize(reply(command, String(command.$db ?? 'admin'))));
    const out = Buffer.alloc(16 + 4 + 1 + body.length);
    writeHeader(out, nextResponseId++, requestId, OP_MSG);
    out.writeUInt32LE(0, 16); // flagBits
    out[20] = 0; // section kind 0
    body.copy(out, 21);
    const delay = options.delayMs?.(command) ?? 0;
    if (delay > 0) setTimeout(() => sock.destroyed || sock.write(out), delay);
    else sock.write(out);
  };

  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const len = pending.readInt32LE(0);
        if (len < 16 || len > 48_000_000) {
          sock.destroy();
          return;
        }
        if (pending.length < len) break;
        const msg = pending.subarray(0, len);
        pending = pending.subarray(len);
        try {
          onMessage(sock, msg);
        } catch {
          sock.destroy();
          return;
        }
      }
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        url: `mongodb://127.0.0.1:${port}/?directConnection=true`,
        port,
        commands,
        collections,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

function writeHeader(out: Buffer, requestId: number, responseTo: number, opCode: number): void {
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(opCode, 12);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof bson.ObjectId && b instanceof bson.ObjectId) return a.equals(b);
  return false;
}
