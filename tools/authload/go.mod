module vstream.io/bench/authload

go 1.26
