# The Varnish row: the backend and a pass for /api/pass/; everything else is Varnish's built-in VCL
# (what `varnishd -b` runs), with default_ttl=300 and malloc,256m on the command line.
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "@ORIGIN_PORT@";
}

# The pass scenario: forwarded, never cached (sidecache has no route for it).
sub vcl_recv {
    if (req.url ~ "^/api/pass/") {
        return (pass);
    }
}
