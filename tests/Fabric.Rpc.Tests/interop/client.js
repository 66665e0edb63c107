// grpc-js interop client for Fabric.Rpc's server.
// Usage: node client.js PORT PROTO_FILE
// Prints one line per check, "ok <name> <detail>" or "fail <name> <detail>", then "done <failures>".
// Exit code 0 when every check passed.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [port, protoFile] = process.argv.slice(2);
if (!port || !protoFile) {
  console.error('usage: node client.js PORT PROTO_FILE');
  process.exit(2);
}

const definition = protoLoader.loadSync(protoFile, { keepCase: false, longs: String, defaults: true });
const Tester = grpc.loadPackageDefinition(definition).fabric.test.Tester;
const client = new Tester(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

let failures = 0;
function report(ok, name, detail) {
  if (!ok) failures++;
  console.log(`${ok ? 'ok' : 'fail'} ${name} ${detail}`);
}

function deadline(ms) {
  return new Date(Date.now() + ms);
}

function unary() {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    metadata.set('x-echo', 'from-js');
    let headerValue = null;
    const call = client.echo({ text: 'héllo from js', value: 7, payload: Buffer.from([1, 2, 3]) }, metadata,
      { deadline: deadline(10000) }, (err, reply) => {
        if (err) {
          report(false, 'unary', `error ${err.code} ${err.details}`);
        } else {
          const ok = reply.text === 'héllo from js' && reply.index === '7' && Buffer.compare(reply.payload, Buffer.from([1, 2, 3])) === 0
            && headerValue === 'from-js';
          report(ok, 'unary', `text=${reply.text} index=${reply.index} header=${headerValue}`);
        }
        resolve();
      });
    call.on('metadata', (md) => { headerValue = (md.get('x-echo') || [])[0] || null; });
  });
}

function serverStream() {
  return new Promise((resolve) => {
    const call = client.count({ count: 1000, payloadBytes: 100 }, { deadline: deadline(10000) });
    let received = 0;
    let inOrder = true;
    call.on('data', (reply) => {
      if (reply.index !== String(received)) inOrder = false;
      received++;
    });
    call.on('error', (err) => { report(false, 'server_stream', `error ${err.code} ${err.details}`); resolve(); });
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) {
        report(received === 1000 && inOrder, 'server_stream', `received=${received} inOrder=${inOrder}`);
        resolve();
      }
    });
  });
}

function errorStatus() {
  return new Promise((resolve) => {
    const message = 'not here: naïve 100% ☃';
    client.fail({ code: grpc.status.NOT_FOUND, message, reason: 'js-reason' }, { deadline: deadline(10000) }, (err) => {
      const ok = err && err.code === grpc.status.NOT_FOUND && err.details === message
        && (err.metadata.get('x-reason') || [])[0] === 'js-reason';
      report(!!ok, 'error_status', err ? `code=${err.code} details=${err.details}` : 'no error');
      resolve();
    });
  });
}

function deadlineExceeded() {
  return new Promise((resolve) => {
    client.sleep({ delayMs: 60000, tag: 'js-deadline' }, { deadline: deadline(300) }, (err) => {
      const ok = err && err.code === grpc.status.DEADLINE_EXCEEDED;
      report(!!ok, 'deadline', err ? `code=${err.code} details=${err.details}` : 'no error');
      resolve();
    });
  });
}

function clientStream() {
  return new Promise((resolve) => {
    const call = client.sum({ deadline: deadline(10000) }, (err, reply) => {
      if (err) report(false, 'client_stream', `error ${err.code} ${err.details}`);
      else report(reply.sum === '5050' && reply.count === 100, 'client_stream', `sum=${reply.sum} count=${reply.count}`);
      resolve();
    });
    for (let i = 1; i <= 100; i++) call.write({ value: i });
    call.end();
  });
}

function bidi() {
  return new Promise((resolve) => {
    const call = client.chat({ deadline: deadline(10000) });
    let received = 0;
    call.on('data', () => { received++; });
    call.on('error', (err) => { report(false, 'bidi', `error ${err.code} ${err.details}`); resolve(); });
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) { report(received === 50, 'bidi', `received=${received}`); resolve(); }
    });
    for (let i = 0; i < 50; i++) call.write({ value: i, text: 'x' });
    call.end();
  });
}

function unimplemented() {
  return new Promise((resolve) => {
    client.notBound({ text: 'x' }, { deadline: deadline(10000) }, (err) => {
      report(!!err && err.code === grpc.status.UNIMPLEMENTED, 'unimplemented', err ? `code=${err.code}` : 'no error');
      resolve();
    });
  });
}

(async () => {
  for (const check of [unary, serverStream, errorStatus, deadlineExceeded, clientStream, bidi, unimplemented]) {
    await check();
  }
  console.log(`done ${failures}`);
  client.close();
  process.exit(failures === 0 ? 0 : 1);
})();
