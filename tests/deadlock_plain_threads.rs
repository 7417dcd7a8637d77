//! Deadlock detection and plain threads that use channels. A separate test binary:
//! once a plain thread has used a channel, detection is off in the whole process.

use std::time::Duration;

#[test]
fn a_plain_thread_producer_is_not_taken_for_a_deadlock() {
    let (tx, rx) = gort::chan::bounded::<u32>(16);
    tx.send(0).unwrap(); // buffered by this plain thread: no goroutine woken
    let producer = std::thread::spawn(move || {
        // The scenario: the producer is busy for a while before its next value.
        std::thread::sleep(Duration::from_millis(100));
        tx.send(1).unwrap();
    });
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let r = rt.try_block_on(move || rx.recv().unwrap() + rx.recv().unwrap());
    producer.join().unwrap();
    assert_eq!(r, Ok(1));
}
