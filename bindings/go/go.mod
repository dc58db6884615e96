module github.com/llamette/llamette/bindings/go

go 1.19
