//! Whole-program checks on the node graph: every node reachable from the
//! start, and no loop that never waits for input (it would spin until the
//! interpreter's step budget stops the call).
//!
//! Owns: which nodes wait for the caller (or for time to pass) and which
//! run instantly. Must never be given a graph with [`UNRESOLVED`] targets
//! it cannot skip: those are ignored, their error was already reported.

use std::collections::BTreeSet;

use super::nodes::UNRESOLVED;
use crate::program::{NodeId, NodeKind};

/// Every node a node may continue to, in the order they are written;
/// a `sub` continues both into its sub-flow and, after the return, at `next`.
pub(super) fn successors(kind: &NodeKind) -> Vec<NodeId> {
    let mut out = match kind {
        NodeKind::Play { next, .. }
        | NodeKind::Record { next, .. }
        | NodeKind::Language { next, .. } => vec![*next],
        NodeKind::Set { next, .. } => vec![*next],
        NodeKind::Menu {
            options, retries, ..
        } => {
            let mut v: Vec<NodeId> = options.values().copied().collect();
            v.push(retries.exhausted);
            v
        }
        NodeKind::Collect { retries, next, .. } | NodeKind::Callback { retries, next, .. } => {
            vec![*next, retries.exhausted]
        }
        NodeKind::When { open, closed, .. } => vec![*open, *closed],
        NodeKind::Queue {
            after_call,
            on_timeout,
            on_closed,
            on_callback,
            ..
        } => {
            let mut v = vec![*on_timeout, *on_closed];
            v.extend(after_call.iter().chain(on_callback.iter()));
            v
        }
        NodeKind::Survey { next, .. } => next.iter().copied().collect(),
        NodeKind::Transfer { on_failure, .. } => vec![*on_failure],
        NodeKind::Goto { target } => vec![*target],
        NodeKind::Sub { target, next } => vec![*target, *next],
        NodeKind::Return | NodeKind::Hangup { .. } => vec![],
    };
    out.retain(|id| *id != UNRESOLVED);
    out
}

/// Whether the interpreter leaves this node only on an event (a key, a
/// prompt finishing, a timeout, the queue's outcome): such nodes cannot
/// spin. The rest run instantly, one step each.
fn runs_instantly(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Language { .. }
            | NodeKind::When { .. }
            | NodeKind::Goto { .. }
            | NodeKind::Sub { .. }
            | NodeKind::Return
            | NodeKind::Set { .. }
    )
}

/// Nodes not reachable from `start`, in id order, given each node's
/// [`successors`].
pub(super) fn unreachable(successors: &[Vec<NodeId>], start: NodeId) -> Vec<NodeId> {
    let mut seen = vec![false; successors.len()];
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        let Some(slot) = seen.get_mut(id.0 as usize) else {
            continue;
        };
        if *slot {
            continue;
        }
        *slot = true;
        stack.extend(&successors[id.0 as usize]);
    }
    (0..successors.len())
        .filter(|i| !seen[*i])
        .map(|i| NodeId(i as u32))
        .collect()
}

/// The instant edges: from an instant node to where it goes without
/// waiting. A `sub` goes instantly to its sub-flow, and instantly on to
/// `next` only if that sub-flow can reach a `return` without waiting.
fn instant_edges(nodes: &[NodeKind]) -> Vec<Vec<NodeId>> {
    let returns = returns_instantly(nodes);
    nodes
        .iter()
        .map(|kind| match kind {
            NodeKind::Sub { target, next } => {
                let mut v = vec![*target];
                if returns.get(target.0 as usize).copied().unwrap_or(false) {
                    v.push(*next);
                }
                v.retain(|id| *id != UNRESOLVED);
                v
            }
            k if runs_instantly(k) => successors(k),
            _ => vec![],
        })
        .collect()
}

/// For each node: can running from it reach a `return` without waiting?
fn returns_instantly(nodes: &[NodeKind]) -> Vec<bool> {
    let mut returns: Vec<bool> = nodes
        .iter()
        .map(|k| matches!(k, NodeKind::Return))
        .collect();
    loop {
        let mut changed = false;
        for (i, kind) in nodes.iter().enumerate() {
            if returns[i] || !runs_instantly(kind) {
                continue;
            }
            let reach = match kind {
                // Past a nested sub the flow continues at its `next` only
                // after the nested sub-flow returned.
                NodeKind::Sub { target, next } => {
                    returns.get(target.0 as usize).copied().unwrap_or(false)
                        && returns.get(next.0 as usize).copied().unwrap_or(false)
                }
                k => successors(k)
                    .iter()
                    .any(|s| returns.get(s.0 as usize).copied().unwrap_or(false)),
            };
            if reach {
                returns[i] = true;
                changed = true;
            }
        }
        if !changed {
            return returns;
        }
    }
}

/// Every loop of instant nodes, each as the cycle of node ids starting at
/// its lowest id (and ending back at it). One loop is reported per group of
/// nodes that reach each other.
pub(super) fn instant_loops(nodes: &[NodeKind]) -> Vec<Vec<NodeId>> {
    let edges = instant_edges(nodes);
    let components = strongly_connected(&edges);
    let mut loops = Vec::new();
    for component in components {
        let first = *component.iter().min().expect("components are never empty");
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let self_loop = edges[first].iter().any(|e| e.0 as usize == first);
        if members.len() == 1 && !self_loop {
            continue;
        }
        loops.push(cycle_through(&edges, &members, first));
    }
    loops.sort();
    loops
}

/// The shortest cycle from `first` back to it inside `members`.
fn cycle_through(edges: &[Vec<NodeId>], members: &BTreeSet<usize>, first: usize) -> Vec<NodeId> {
    let mut came_from: Vec<Option<usize>> = vec![None; edges.len()];
    let mut queue = std::collections::VecDeque::from([first]);
    let mut end = None;
    'search: while let Some(at) = queue.pop_front() {
        for next in &edges[at] {
            let next = next.0 as usize;
            if !members.contains(&next) {
                continue;
            }
            if next == first {
                end = Some(at);
                break 'search;
            }
            if came_from[next].is_none() && next != first {
                came_from[next] = Some(at);
                queue.push_back(next);
            }
        }
    }
    let mut path = vec![first];
    let mut at = end;
    while let Some(node) = at {
        if node == first {
            break;
        }
        path.push(node);
        at = came_from[node];
    }
    path.push(first);
    // Built backwards from the end: first, .., first reversed is the cycle.
    path.reverse();
    path.into_iter().map(|i| NodeId(i as u32)).collect()
}

/// Tarjan's strongly connected components, iteratively (a dialplan of
/// thousands of nodes must not overflow the stack).
fn strongly_connected(edges: &[Vec<NodeId>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut work = vec![(root, 0usize)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some((v, edge)) = work.last_mut() {
            let v = *v;
            if let Some(w) = edges[v].get(*edge).map(|w| w.0 as usize) {
                *edge += 1;
                if w >= n {
                    continue;
                }
                if index[w] == usize::MAX {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                low[*parent] = low[*parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goto(t: u32) -> NodeKind {
        NodeKind::Goto { target: NodeId(t) }
    }
    fn set(next: u32) -> NodeKind {
        NodeKind::Set {
            assignments: vec![],
            next: NodeId(next),
        }
    }
    fn play(next: u32) -> NodeKind {
        NodeKind::Play {
            prompts: vec![],
            barge_in: true,
            next: NodeId(next),
        }
    }
    fn ids(v: &[u32]) -> Vec<NodeId> {
        v.iter().map(|i| NodeId(*i)).collect()
    }

    #[test]
    fn nodes_not_reached_from_the_start_are_listed() {
        let nodes = [play(1), NodeKind::Hangup { prompts: vec![] }, play(1)];
        let edges: Vec<_> = nodes.iter().map(successors).collect();
        assert_eq!(unreachable(&edges, NodeId(0)), ids(&[2]));
    }

    #[test]
    fn a_loop_of_gotos_and_sets_is_found_in_order() {
        // 0 -> 1 -> 2 -> 0, and 3 plays (waits) back into the loop.
        let nodes = vec![goto(1), set(2), goto(0), play(0)];
        assert_eq!(instant_loops(&nodes), vec![ids(&[0, 1, 2, 0])]);
    }

    #[test]
    fn a_loop_through_a_waiting_node_is_fine() {
        let nodes = vec![goto(1), set(2), play(0)];
        assert!(instant_loops(&nodes).is_empty());
    }

    #[test]
    fn a_goto_to_itself_is_a_loop() {
        assert_eq!(instant_loops(&[goto(0)]), vec![ids(&[0, 0])]);
    }

    #[test]
    fn a_sub_whose_flow_returns_at_once_continues_instantly() {
        // 0: sub 1 then 0 again; 1: return. Spins forever.
        let nodes = vec![
            NodeKind::Sub {
                target: NodeId(1),
                next: NodeId(0),
            },
            NodeKind::Return,
        ];
        assert_eq!(instant_loops(&nodes), vec![ids(&[0, 0])]);
        // If the sub-flow plays first, each round waits.
        let nodes = vec![
            NodeKind::Sub {
                target: NodeId(1),
                next: NodeId(0),
            },
            play(2),
            NodeKind::Return,
        ];
        assert!(instant_loops(&nodes).is_empty());
    }

    #[test]
    fn unresolved_targets_are_skipped() {
        let nodes = vec![NodeKind::Goto { target: UNRESOLVED }];
        assert!(instant_loops(&nodes).is_empty());
        assert!(unreachable(&[successors(&nodes[0])], NodeId(0)).is_empty());
    }
}
