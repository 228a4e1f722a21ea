//! Skills: interning of (skill, value) pairs, a call's requirements at a
//! relax stage, and whether an agent meets them.
//!
//! Owns: eligibility by skill, nothing else (agent status, queue membership
//! and offers are the engine's). Pure functions; never panics.

use std::collections::HashMap;

use crate::config::{Accept, QueueConfig};

/// An interned (skill, value) pair such as ("language", "ca").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SkillId(u32);

/// Every (skill, value) pair named by an agent or a relax step. Callers'
/// values are looked up, never added: a value no agent has cannot match.
#[derive(Debug, Default)]
pub(crate) struct SkillTable {
    ids: HashMap<(String, String), SkillId>,
}

impl SkillTable {
    pub(crate) fn intern(&mut self, skill: &str, value: &str) -> SkillId {
        let next = SkillId(u32::try_from(self.ids.len()).expect("fewer than 2^32 configured skill values"));
        *self.ids.entry((skill.to_string(), value.to_string())).or_insert(next)
    }

    fn lookup(&self, skill: &str, value: &str) -> Option<SkillId> {
        self.ids.get(&(skill.to_string(), value.to_string())).copied()
    }
}

/// An agent's skills, sorted by id for binary search.
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentSkills(Vec<(SkillId, u8)>);

impl AgentSkills {
    pub(crate) fn new(table: &mut SkillTable, skills: &[(String, String, u8)]) -> AgentSkills {
        let mut v: Vec<(SkillId, u8)> = skills.iter().map(|(s, val, l)| (table.intern(s, val), *l)).collect();
        v.sort();
        v.dedup_by_key(|(id, _)| *id);
        AgentSkills(v)
    }

    fn level(&self, id: SkillId) -> Option<u8> {
        self.0.binary_search_by_key(&id, |(s, _)| *s).ok().map(|i| self.0[i].1)
    }
}

/// One required skill of a call at its current relax stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    /// Values accepted (any one suffices); `None`: the skill is waived.
    accept: Option<Vec<SkillId>>,
    min_level: u8,
}

/// The call's requirements once the first `stage` relax steps of `queue`
/// apply. Skills the queue does not require, and empty caller values (a
/// topic not chosen yet), require nothing.
pub(crate) fn requirements(queue: &QueueConfig, table: &SkillTable, call_skills: &[(String, String)], stage: usize) -> Vec<Requirement> {
    let mut reqs = Vec::with_capacity(queue.skills.len());
    for skill in &queue.skills {
        let Some((_, value)) = call_skills.iter().find(|(s, v)| s == skill && !v.is_empty()) else { continue };
        let mut accept = Some(table.lookup(skill, value).into_iter().collect::<Vec<_>>());
        let mut min_level = queue.min_level.get(skill).copied().unwrap_or(1);
        for step in queue.relax.iter().take(stage) {
            if &step.skill != skill || (!step.when.is_empty() && !step.when.contains(value)) {
                continue;
            }
            if let Some(l) = step.min_level {
                min_level = l;
            }
            match (&step.accept, accept.as_mut()) {
                (Accept::Any, _) => accept = None,
                (Accept::Values(values), Some(list)) => list.extend(values.iter().filter_map(|v| table.lookup(skill, v))),
                (Accept::Values(_), None) => {}
            }
        }
        reqs.push(Requirement { accept, min_level });
    }
    reqs
}

pub(crate) fn satisfies(agent: &AgentSkills, reqs: &[Requirement]) -> bool {
    reqs.iter().all(|r| match &r.accept {
        None => true,
        Some(values) => values.iter().any(|v| agent.level(*v).is_some_and(|l| l >= r.min_level)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AcdConfig;

    fn setup() -> (QueueConfig, SkillTable, AgentSkills, AgentSkills) {
        let q = r#"
[queues.general]
skills = ["language", "topic"]
min_level = { topic = 3 }
relax = [
  { after_secs = 60, skill = "language", when = ["ca"], accept = ["es"] },
  { after_secs = 90, skill = "topic", min_level = 1 },
  { after_secs = 120, skill = "topic", accept = ["*"] },
]
"#;
        let c = AcdConfig::parse("q", q, "a", "").expect("valid");
        let mut table = SkillTable::default();
        let es_health_2 = AgentSkills::new(&mut table, &[("language".into(), "es".into(), 5), ("topic".into(), "health".into(), 2)]);
        let ca_work_5 = AgentSkills::new(&mut table, &[("language".into(), "ca".into(), 5), ("topic".into(), "work".into(), 5)]);
        (c.queues[0].clone(), table, es_health_2, ca_work_5)
    }

    fn call(lang: &str, topic: &str) -> Vec<(String, String)> {
        vec![("language".into(), lang.into()), ("topic".into(), topic.into())]
    }

    #[test]
    fn a_catalan_health_caller_widens_step_by_step() {
        let (q, t, es_health_2, ca_work_5) = setup();
        let c = call("ca", "health");
        let at = |stage| requirements(&q, &t, &c, stage);
        assert!(!satisfies(&es_health_2, &at(0)), "Spanish speaker, health below level 3");
        assert!(!satisfies(&es_health_2, &at(1)), "Spanish is accepted, but health level 2 < 3");
        assert!(satisfies(&es_health_2, &at(2)), "health level 1 suffices");
        assert!(!satisfies(&ca_work_5, &at(2)), "no health at all");
        assert!(satisfies(&ca_work_5, &at(3)), "any topic");
    }

    #[test]
    fn relax_when_limits_the_step_to_some_callers() {
        let (q, t, _, _) = setup();
        let mut table = t;
        let en_health = AgentSkills::new(&mut table, &[("language".into(), "es".into(), 5), ("topic".into(), "health".into(), 5)]);
        let english = call("en", "health");
        assert!(!satisfies(&en_health, &requirements(&q, &table, &english, 3)), "the es step is only for ca callers");
    }

    #[test]
    fn unknown_or_empty_values() {
        let (q, t, es_health_2, _) = setup();
        assert!(!satisfies(&es_health_2, &requirements(&q, &t, &call("fr", ""), 0)), "nobody speaks fr");
        assert!(satisfies(&es_health_2, &requirements(&q, &t, &call("es", ""), 0)), "no topic chosen: language only");
        assert!(satisfies(&es_health_2, &requirements(&q, &t, &[], 0)), "no skills: anyone");
    }
}
