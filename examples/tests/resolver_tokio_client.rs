//! Runs the `resolver_tokio_client` example's code (compiled into this test) end to end.

#[allow(dead_code)] // `main` is for `cargo run --example`; the test calls `run`.
#[path = "../resolver_tokio_client.rs"]
mod example;

#[test]
fn example_presents_the_identity_the_server_asks_for() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(example::run()).expect("example runs");
    for call in [&report.tokio_rustls, &report.hyper] {
        assert_eq!(call.chosen, "globex (matched_ca_name)");
        assert_eq!(call.server_said, "hello, CN=globex client");
    }
}
