// placeholder entry; replaced by the real CLI
console.log(process.argv.includes("--version") ? "agtmux 0.1.0" : "agtmux");
