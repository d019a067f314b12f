require('http').createServer((q,s)=>{s.end('hello from '+process.pid)}).listen(process.env.PORT||3000)
