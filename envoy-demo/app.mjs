// The demo's protected app: shows who the filter says you are (the Remote-*
// headers it received). HTML for browsers, JSON for everything else.
import http from 'node:http';

const port = Number(process.argv[process.argv.indexOf('--port') + 1] || 8081);
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

http
  .createServer((req, res) => {
    const identity = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.startsWith('remote-')));
    if (!(req.headers.accept ?? '').includes('text/html')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ host: req.headers.host, path: req.url, identity }, null, 2));
      return;
    }
    const rows = Object.entries(identity)
      .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`)
      .join('');
    const name = identity['remote-name'] ?? 'anonymous';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><meta charset="utf-8"><title>${escape(req.headers.host)}</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto">
<h1>Hello, ${escape(name)}</h1><p>You reached <code>${escape(req.headers.host)}${escape(req.url)}</code>.
The filter sent these identity headers:</p><table>${rows}</table>
<p><a href="http://auth.${escape((req.headers.host ?? '').split('.').slice(1).join('.'))}/logout">Log out</a></p></body>`);
  })
  .listen(port, '127.0.0.1', () => console.log(`demo app listening on 127.0.0.1:${port}`));
