// A reactive job in plain Node.js, standard library only: no SDK, just the contract.
// stdin: the RunRequest (JSON). stdout: NDJSON events. `node job.js --serve PORT` serves
// POST /run instead (the service transport).
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');

function run(request, emit) {
  try {
    let total = 0;
    let rows = 0;
    for (const input of request.inputs) {
      for (const uri of input.uris || []) {
        const text = fs.readFileSync(new URL(uri), 'utf8');
        for (const line of text.split('\n').filter(Boolean)) {
          total += JSON.parse(line).n;
          rows += 1;
        }
      }
    }
    emit({ type: 'log', level: 'info', message: `summed ${rows} rows` });
    const dir = path.join(new URL(request.output_prefix).pathname, 'numbers_sum');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'part-0.json');
    fs.writeFileSync(file, JSON.stringify({ total, rows }) + '\n');
    const output = { dataset: 'numbers_sum', uris: ['file://' + file], rows: 1, format: 'json' };
    emit({ type: 'output', ...output });
    emit({ type: 'result', status: 'succeeded', outputs: [output], metadata: { total } });
    return 0;
  } catch (err) {
    emit({ type: 'result', status: 'failed',
           error: { type: err.name, message: err.message, stack: err.stack, retryable: true } });
    return 1;
  }
}

if (process.argv[2] === '--serve') {
  http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      run(JSON.parse(body), (e) => res.write(JSON.stringify(e) + '\n'));
      res.end();
    });
  }).listen(Number(process.argv[3]), '127.0.0.1');
} else {
  let body = '';
  process.stdin.on('data', (chunk) => { body += chunk; });
  process.stdin.on('end', () => {
    const code = run(JSON.parse(body), (e) => process.stdout.write(JSON.stringify(e) + '\n'));
    process.exitCode = code;
  });
}
