// Starts an in-memory PLC + PDS (@atproto/dev-env) bound to 127.0.0.1 and prints one JSON line
// {"pds": url, "plc": url} once ready. Run with Node >= 22 from a folder whose node_modules
// holds @atproto/dev-env (tests/peers.py copies it into .peers/atproto). See peers.md §4.
import net from 'node:net';
import dns from 'node:dns';
dns.setDefaultResultOrder('ipv4first');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {       // bind 127.0.0.1 only
  if (typeof a[0] === 'number' && typeof a[1] !== 'string') a.splice(1, 0, '127.0.0.1');
  else if (a[0] && typeof a[0] === 'object' && !a[0].host && !a[0].path) a[0] = { ...a[0], host: '127.0.0.1' };
  return listen.apply(this, a);
};
const { TestNetworkNoAppView } = await import('@atproto/dev-env');
const port = process.env.PDS_PORT ? Number(process.env.PDS_PORT) : undefined;
const network = await TestNetworkNoAppView.create({ pds: port ? { port } : {} });
console.log(JSON.stringify({ pds: network.pds.url, plc: network.plc.url }));
const stop = async () => { await network.close().catch(() => {}); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
