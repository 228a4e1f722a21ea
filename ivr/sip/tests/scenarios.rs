//! Scenario tests: two user agents (a caller "UAC" and the IVR "UAS") over a simulated network
//! on a simulated clock, plus raw-message and property tests of the IVR side, and the registrar fed raw REGISTERs.
//! One binary.

mod scenarios {
    pub mod calls;
    pub mod golden;
    pub mod info;
    pub mod net;
    pub mod peers;
    pub mod props;
    pub mod raw;
    pub mod refer;
    pub mod registrar;
}
