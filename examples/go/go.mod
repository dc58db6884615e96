module github.com/llamette/llamette/examples/go

go 1.19

require github.com/llamette/llamette/bindings/go v0.0.0

replace github.com/llamette/llamette/bindings/go => ../../bindings/go
