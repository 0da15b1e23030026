#!/usr/bin/env node
'use strict';
// Makes a fresh clone runnable: system packages first (the pcap binding compiles against
// libpcap-dev), then node_modules. Plain JavaScript with no dependencies, because it runs before
// anything is installed. Usage: node scripts/ensure-system.js demo|test|bench
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const purpose = process.argv[2] || 'demo';

// Debian package -> why it is needed. Tests use real components as oracles and peers.
const PACKAGES = {
  demo: { 'libpcap-dev': 'libpcap headers, to build the capture binding' },
  test: {
    'libpcap-dev': 'libpcap headers, to build the capture binding',
    tshark: 'independent decoder the tests compare against',
    'mmdb-bin': 'mmdblookup, the reference MMDB reader for the writer tests',
    iproute2: 'ip netns / veth for live-capture tests',
    'dnsmasq-base': 'a real DNS server in the live end-to-end tests',
    prometheus: 'a real Prometheus and promtool that scrape and lint /metrics',
    unbound: 'a real resolver that emits dnstap for the dnstap source test',
    nfdump: 'nfcapd and nfdump, a real IPFIX collector that reads back the export',
    'prometheus-alertmanager': 'a real Alertmanager that receives and serves back the alerts',
  },
  bench: { 'libpcap-dev': 'libpcap headers, to build the capture binding' },
};

function missingPackages(wanted) {
  return wanted.filter((pkg) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
    if (r.error) return !fallbackPresent(pkg);
    return !/install ok installed/.test(r.stdout || '');
  });
}

// Without dpkg (not Debian/Ubuntu) look for what the package provides.
function fallbackPresent(pkg) {
  const probes = {
    'libpcap-dev': () => existsSync('/usr/include/pcap/pcap.h') || existsSync('/usr/include/pcap.h'),
    tshark: () => commandExists('tshark'),
    'mmdb-bin': () => commandExists('mmdblookup'),
    iproute2: () => commandExists('ip'),
    'dnsmasq-base': () => commandExists('dnsmasq'),
    prometheus: () => commandExists('prometheus') && commandExists('promtool'),
    unbound: () => commandExists('unbound'),
    nfdump: () => commandExists('nfcapd') && commandExists('nfdump'),
    'prometheus-alertmanager': () => commandExists('prometheus-alertmanager'),
  };
  return probes[pkg] ? probes[pkg]() : false;
}

function commandExists(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function fail(message) {
  process.stderr.write(`geowarden: ${message}\n`);
  process.exit(1);
}

function ensurePackages() {
  const wanted = PACKAGES[purpose] || PACKAGES.demo;
  const missing = missingPackages(Object.keys(wanted));
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !commandExists('apt-get')) {
    fail(`missing system packages for "npm run ${purpose}": ${missing.join(' ')}; install them with: sudo apt-get install -y ${missing.join(' ')}`);
  }
  process.stderr.write(`geowarden: installing ${missing.join(', ')} with apt-get (${missing.map((p) => wanted[p]).join('; ')})\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The package lists may be absent on a fresh image; an update failure is not fatal if the install works.
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) fail(`apt-get install ${missing.join(' ')} failed (exit ${r.status}); install them by hand and retry`);
}

function ensureNodeModules() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  const binding = path.join(root, 'node_modules', 'pcap', 'build', 'Release', 'pcap_binding.node');
  const fresh = existsSync(marker) && existsSync(binding) && (!existsSync(lock) || statSync(marker).mtimeMs >= statSync(lock).mtimeMs);
  if (fresh) return;
  process.stderr.write('geowarden: installing npm dependencies (npm ci)\n');
  try {
    execFileSync('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    fail(`npm dependencies failed to install (${err.message.split('\n')[0]}); see the npm output above`);
  }
  if (!existsSync(binding)) {
    fail('the pcap binding did not build: check that libpcap-dev, python3, make and g++ are installed, then run "npm rebuild pcap"');
  }
}

/**
 * The project's own capture-file reader (binding.gyp) is built by npm ci's install step. A checkout
 * that already had node_modules when the reader appeared or changed gets it rebuilt here.
 */
function ensureCaptureReader() {
  const addon = path.join(root, 'build', 'Release', 'capture_file_reader.node');
  const source = path.join(root, 'src', 'capture', 'native', 'capture-file-reader.c');
  if (existsSync(addon) && statSync(addon).mtimeMs >= statSync(source).mtimeMs) return;
  process.stderr.write('geowarden: building the capture file reader (node-gyp)\n');
  try {
    execFileSync('npm', ['run', '-s', 'install'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    fail(`the capture file reader did not build (${err.message.split('\n')[0]}): check that libpcap-dev, python3, make and g++ are installed, then run "npm rebuild"`);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) fail(`Node.js ${process.versions.node} is too old: Geowarden needs Node.js 20 or newer`);
ensurePackages();
ensureNodeModules();
ensureCaptureReader();
