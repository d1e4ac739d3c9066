"""What the tests and the benchmarks (bench/) share to run the real server and look at it from outside,
one module per topic. Modules import only what their topic needs, so bench can use `server` and `ports`
without the test tools."""
