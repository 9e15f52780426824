//! Ids cannot be told apart by timing: GetStatus and ListCase answer
//! NOT_FOUND alike for another organisation's message or case and for an id
//! that does not exist, and in the same time. Another organisation's case
//! of 40 messages costs the gateway 40 reads and decodes that a random id
//! does not; without the even answer time that shows in the medians.

use std::time::{Duration, Instant};

use schakel_tests::{TestGateway, code_of, fixtures, org};

/// The median time of `n` calls of `call`, each of which must be NOT_FOUND.
async fn median_not_found<F, Fut, T>(n: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, schakel_client::ClientError>>,
    T: std::fmt::Debug,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let result = call().await;
        times.push(started.elapsed());
        assert_eq!(code_of(result), tonic::Code::NotFound);
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisations_ids_take_as_long_as_ids_that_do_not_exist() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.oin(org::VERWIJSINDEX);
    let first = school
        .send(fixtures::signalering("case-0", &index))
        .await
        .unwrap();
    for i in 1..40 {
        let mut r = fixtures::signalering(&format!("case-{i}"), &index);
        r.case_id = first.case_id.clone();
        school.send(r).await.unwrap();
    }
    let outsider = gw.client(org::JGT).await;
    let random = uuid::Uuid::now_v7().to_string();
    let theirs = median_not_found(15, || outsider.list_case(&first.case_id)).await;
    let none = median_not_found(15, || outsider.list_case(&random)).await;
    let status_theirs = median_not_found(15, || outsider.status(&first.message_id)).await;
    let status_none = median_not_found(15, || outsider.status(&random)).await;
    for (what, a, b) in [
        ("ListCase", theirs, none),
        ("GetStatus", status_theirs, status_none),
    ] {
        let gap = a.abs_diff(b);
        assert!(
            gap < Duration::from_millis(5),
            "{what}: another's id {a:?}, a random one {b:?}"
        );
        assert!(
            a >= Duration::from_millis(25) && b >= Duration::from_millis(25),
            "{what}: a NOT_FOUND about an id is held to its floor ({a:?}, {b:?})"
        );
    }
}
