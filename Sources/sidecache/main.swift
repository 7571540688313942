print("sidecache")
