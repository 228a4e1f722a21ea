//! Erlang B and C against published table values: the sizing in
//! `docs/capacity.md` and the simulated year's prediction rest on these.

use loadtest::erlang::{
    Sizing, agents_for_service_level, average_speed_of_answer, erlang_b, erlang_c, erlangs, servers_for_blocking,
    service_level,
};

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

#[test]
fn erlang_b_matches_the_classic_blocking_tables() {
    // Traffic (erlangs) that N trunks carry at 1 % and 2 % blocking, as
    // printed in every Erlang B table (e.g. ITU-T E.501 practice, Cisco's
    // Erlang B tables).
    let one_percent = [(1, 0.0101), (5, 1.36), (10, 4.46), (20, 12.03), (50, 37.90), (100, 84.06)];
    for (trunks, traffic) in one_percent {
        let b = erlang_b(traffic, trunks);
        assert!(close(b, 0.01, 0.0005), "{trunks} trunks at {traffic} E: {b}");
    }
    let two_percent = [(10, 5.08), (20, 13.18), (50, 40.25)];
    for (trunks, traffic) in two_percent {
        let b = erlang_b(traffic, trunks);
        assert!(close(b, 0.02, 0.0005), "{trunks} trunks at {traffic} E: {b}");
    }
    // A textbook value: 5 E on 10 trunks blocks 1.84 %.
    assert!(close(erlang_b(5.0, 10), 0.01838, 0.00001));
}

#[test]
fn trunks_for_a_blocking_target_invert_the_table() {
    assert_eq!(servers_for_blocking(4.46, 0.01), 10);
    assert_eq!(servers_for_blocking(12.0, 0.01), 20);
    assert_eq!(servers_for_blocking(84.0, 0.01), 100);
    // One trunk more than the answer is not needed; one less misses.
    let n = servers_for_blocking(37.9, 0.01);
    assert!(erlang_b(37.9, n) <= 0.01 && erlang_b(37.9, n - 1) > 0.01);
    assert_eq!(servers_for_blocking(0.0, 0.01), 0);
}

#[test]
fn erlang_c_matches_the_textbook_call_centre_example() {
    // The worked example of the Erlang C literature: 100 calls in half an hour of
    // 180 s (10 E). With 11 agents 68.2 % of callers wait and the service
    // level at 20 s is 39 %; 14 agents are the fewest for 80/20 (88.8 %).
    let a = erlangs(200.0, 180.0);
    assert!(close(a, 10.0, 1e-12));
    assert!(close(erlang_c(a, 11), 0.6821, 0.0001));
    assert!(close(service_level(a, 11, 180.0, 20.0), 0.3896, 0.0001));
    assert!(close(erlang_c(a, 12), 0.4494, 0.0001));
    assert!(close(service_level(a, 13, 180.0, 20.0), 0.7956, 0.0001));
    assert!(close(service_level(a, 14, 180.0, 20.0), 0.8884, 0.0001));
    assert!(close(average_speed_of_answer(a, 14, 180.0), 7.84, 0.01));
    assert_eq!(agents_for_service_level(a, 180.0, 0.8, 20.0), 14);
    let sizing = Sizing::for_service_level(200.0, 180.0, 0.8, 20.0);
    assert_eq!(sizing.agents, 14);
    assert!(close(sizing.occupancy, 10.0 / 14.0, 1e-12));
}

#[test]
fn too_few_agents_always_wait_and_never_meet_a_target() {
    assert_eq!(erlang_c(10.0, 10), 1.0);
    assert_eq!(erlang_c(10.0, 9), 1.0);
    assert_eq!(service_level(10.0, 10, 180.0, 20.0), 0.0);
    assert!(average_speed_of_answer(10.0, 10, 180.0).is_infinite());
}

#[test]
fn more_agents_never_make_service_worse() {
    let a = 42.5;
    let mut last_sl = 0.0;
    let mut last_c = 1.0;
    for n in 43..80 {
        let sl = service_level(a, n, 240.0, 20.0);
        let c = erlang_c(a, n);
        assert!(sl >= last_sl && c <= last_c, "n = {n}");
        (last_sl, last_c) = (sl, c);
    }
}
