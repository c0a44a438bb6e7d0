// Compile Solidity offline with solcjs: standard JSON in on stdin, standard JSON out on stdout.
const solc = require('solc');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => { process.stdout.write(solc.compile(input)); });
