setInterval(()=>{}, 1e9)
