#!/usr/bin/env node
// Compile contracts/src/*.sol with the pinned solcjs and write one deterministic JSON artifact
// per MILON contract (plus index.json) into milon_app/chain/artifacts/.
//
//   node contracts/compile.js [--out DIR]      (npm run compile)
//   node contracts/compile.js --test [--out DIR] (npm run compile:test)
//
// --test compiles the test-only contracts in contracts/test/*.sol instead (the attackers, the
// RoundMath harness: they may import src/ files), every contract they define, into
// tests/unit/contracts/artifacts/ (never into the shipped package).
//
// Output is byte-reproducible (sorted keys, metadata.bytecodeHash "none"), so the committed
// artifacts can be checked for freshness by compiling again and comparing bytes.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const EIP170_LIMIT = 24576;
const CONTRACTS = [
  'FederationRegistry',
  'MilonGovernor',
  'MilonTimelock',
  'MilonToken',
  'ModelRegistry',
  'TrainingJobs',
];
// Deployed by TrainingJobs' constructor (no artifact of their own): size-checked all the same.
const EMBEDDED = ['RoundPlanner', 'RoundSettler'];
const SRC_DIR = path.join(__dirname, 'src');
const TEST_DIR = path.join(__dirname, 'test');
const NODE_MODULES = path.join(__dirname, 'node_modules');

function parseArgs(argv) {
  let out = null;
  let test = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--test') {
      test = true;
    } else if (a === '--out') {
      if (i + 1 >= argv.length) throw new Error('--out needs a directory');
      out = argv[++i];
    } else if (a.startsWith('--out=')) {
      out = a.slice('--out='.length);
    } else {
      throw new Error(`unknown argument ${a} (usage: node compile.js [--test] [--out DIR])`);
    }
  }
  if (out === null) {
    out = test
      ? path.join(__dirname, '..', 'tests', 'unit', 'contracts', 'artifacts')
      : path.join(__dirname, '..', 'milon_app', 'chain', 'artifacts');
  }
  return { out: path.resolve(out), test };
}

// Recursively sort object keys so JSON.stringify is stable; arrays keep their order.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const sorted = {};
    for (const k of Object.keys(value).sort()) sorted[k] = sortKeys(value[k]);
    return sorted;
  }
  return value;
}

function stableJson(value) {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

function ozVersion() {
  const pkg = path.join(NODE_MODULES, '@openzeppelin', 'contracts', 'package.json');
  return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
}

// sha256 over, for each src/*.sol in byte-sorted name order: name, "\n", raw content; then
// "@openzeppelin/contracts@<version>". tests/unit/contracts/test_artifacts.py recomputes it.
function sourceHash(files, oz, dir = SRC_DIR) {
  const h = crypto.createHash('sha256');
  for (const f of files) {
    h.update(Buffer.from(f + '\n', 'utf8'));
    h.update(fs.readFileSync(path.join(dir, f)));
  }
  h.update(Buffer.from(`@openzeppelin/contracts@${oz}`, 'utf8'));
  return h.digest('hex');
}

function findImports(importPath) {
  if (importPath.startsWith('@openzeppelin/')) {
    const full = path.join(NODE_MODULES, importPath);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, 'utf8') };
  }
  // A test contract may import a shipped source ("../src/X.sol" from test/ resolves to src/X.sol);
  // only contracts defined in the compiled directory itself are written out.
  if (importPath.startsWith('src/') && !importPath.includes('..')) {
    const full = path.join(SRC_DIR, importPath.slice('src/'.length));
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, 'utf8') };
  }
  return { error: `File not found: ${importPath} (run npm install in contracts/)` };
}

function main() {
  const { out, test } = parseArgs(process.argv.slice(2));
  const solc = require('solc');
  const dir = test ? TEST_DIR : SRC_DIR;
  const prefix = test ? 'test/' : 'src/';
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort();
  const sources = {};
  for (const f of files) sources[`${prefix}${f}`] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
  const settings = {
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none' },
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  };
  const input = { language: 'Solidity', sources, settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors || [];
  for (const e of diagnostics) {
    if (e.severity === 'error' || process.env.SHOW_WARN) console.error(e.formattedMessage);
  }
  if (diagnostics.some((e) => e.severity === 'error')) {
    console.error('compile failed');
    process.exit(1);
  }

  const compiler = solc.version();
  const oz = ozVersion();
  const hash = sourceHash(files, oz, dir);
  const found = {};
  for (const [file, contracts] of Object.entries(output.contracts || {})) {
    if (!file.startsWith(prefix)) continue;
    for (const [name, c] of Object.entries(contracts)) {
      if (test ? c.evm.bytecode.object.length > 0 : CONTRACTS.includes(name)) found[name] = c;
    }
  }
  const names = test ? Object.keys(found).sort() : CONTRACTS;
  const missing = names.filter((n) => !found[n]);
  if (missing.length) {
    console.error(`missing contracts in compiler output: ${missing.join(', ')}`);
    process.exit(1);
  }

  fs.mkdirSync(out, { recursive: true });
  let oversize = false;
  if (!test) {
    for (const name of EMBEDDED) {
      const c = Object.values(output.contracts[`src/${name}.sol`] || {})[0];
      if (!c) throw new Error(`missing ${name} in compiler output`);
      const runtime = c.evm.deployedBytecode.object.length / 2;
      if (runtime > EIP170_LIMIT) oversize = true;
      const flag = runtime > EIP170_LIMIT ? `  OVER the EIP-170 limit of ${EIP170_LIMIT} B` : '';
      console.log(`${name.padEnd(20)} runtime ${String(runtime).padStart(6)} B  (deployed by TrainingJobs)${flag}`);
    }
  }
  for (const name of names) {
    const c = found[name];
    const runtime = c.evm.deployedBytecode.object.length / 2;
    const initcode = c.evm.bytecode.object.length / 2;
    const flag = runtime > EIP170_LIMIT ? `  OVER the EIP-170 limit of ${EIP170_LIMIT} B` : '';
    if (runtime > EIP170_LIMIT) oversize = true;
    console.log(`${name.padEnd(20)} runtime ${String(runtime).padStart(6)} B  initcode ${String(initcode).padStart(6)} B${flag}`);
    const artifact = {
      contractName: name,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      compiler,
      settings,
      sourceHash: hash,
    };
    fs.writeFileSync(path.join(out, `${name}.json`), stableJson(artifact));
  }
  fs.writeFileSync(
    path.join(out, 'index.json'),
    stableJson({ contracts: names, compiler, openzeppelin: oz, sourceHash: hash }),
  );
  console.log(`solc ${compiler}, OpenZeppelin ${oz}, sourceHash ${hash}`);
  console.log(`wrote ${names.length} artifacts + index.json to ${out}`);
  if (oversize) process.exit(1);
}

main();
