module vstream.invalid/tools/mediamtx

go 1.26.0

require github.com/bluenviron/mediamtx v1.20.1
