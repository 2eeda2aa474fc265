//! Throughput of `splice` over in-memory duplex pipes (no sockets, no TLS): the cost of the
//! pump itself. One iteration moves 8 MiB client→upstream through a 64 KiB pipe each side.

#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mtls_splice::{SpliceConfig, splice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOTAL: usize = 8 * 1024 * 1024;

fn bench_splice(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("splice");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.bench_function("duplex_8MiB_one_way", |b| {
        b.to_async(&rt).iter(|| async {
            let (client, mut app) = tokio::io::duplex(64 * 1024);
            let (upstream, mut backend) = tokio::io::duplex(64 * 1024);
            let pump = tokio::spawn(splice(
                client,
                upstream,
                SpliceConfig::new(Duration::from_secs(30)),
            ));
            let writer = tokio::spawn(async move {
                let chunk = vec![0x5au8; 64 * 1024];
                for _ in 0..TOTAL / chunk.len() {
                    app.write_all(&chunk).await.unwrap();
                }
                app.shutdown().await.unwrap();
                app
            });
            let mut sink = vec![0u8; 64 * 1024];
            let mut got = 0;
            loop {
                let n = backend.read(&mut sink).await.unwrap();
                if n == 0 {
                    break;
                }
                got += n;
            }
            assert_eq!(got, TOTAL);
            drop(backend);
            drop(writer.await.unwrap());
            pump.await.unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench_splice);
criterion_main!(benches);
