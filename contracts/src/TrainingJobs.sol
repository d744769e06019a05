// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {FederationRegistry} from "./FederationRegistry.sol";
import {ITrainingJobsPending} from "./ITrainingJobsPending.sol";
import {RoundMath} from "./RoundMath.sol";
import {RoundPlanner} from "./RoundPlanner.sol";
import {RoundSettler} from "./RoundSettler.sol";
import {TrainingJobsBase} from "./TrainingJobsBase.sol";

/// @title Training jobs, rounds, commit-reveal of updates and committee verdicts (protocol v2).
/// @notice A job escrows `totalEpochs * rewardPerEpoch`. Each round splits epochs over the
///         federation's active members by capacity scaled by their delivery record, with a
///         per-member cap, and draws a stake-weighted validator committee. Members accept or
///         decline (a lapse is penalised and its epochs re-split), train, commit and reveal an
///         update hash. Committee members submit one verdict bitmap each; an update is accepted
///         by a weighted majority of the committee weight that voted (its author's seat does not
///         count), once enough of the committee voted. The committee then confirms the hash of
///         the deterministic aggregate of the accepted set; a confirmed hash finalizes the round.
///         Paid: accepted updates (by epochs) and committee members that voted with the majority
///         (and whose own update, if any, was not rejected or missing).
///         Slashed: no-shows, majority-rejected updates, lapses and absent committee members
///         (smaller, governed penalties). Never slashed: contributors of a round the committee
///         failed to settle. Rewards are pull-claimed.
///         The state, types and internal logic live in TrainingJobsBase; settling a round
///         (tally, finalize, fail, lapses and re-splits) runs in RoundSettler by DELEGATECALL and
///         the epoch split and committee draw in RoundPlanner, both deployed by the constructor,
///         so this contract stays well under the EIP-170 code-size limit.
contract TrainingJobs is ReentrancyGuardTransient, ITrainingJobsPending, TrainingJobsBase, EIP712 {
    // EIP712 comes last: its two fallback-string slots must follow TrainingJobsBase's storage,
    // which RoundSettler (DELEGATECALL) lays out the same way without it.
    using SafeERC20 for IERC20;

    /// @notice A member's commitment signed for a batch (EIP-712 `Commit`; EIP-2098 signature).
    struct SignedCommit {
        bytes32 commitment;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A member's opening for a batch: it opens only that member's own commitment.
    struct Opening {
        address member;
        bytes32 updateHash;
        uint64 numSamples;
        bytes32 salt;
    }

    bytes32 public constant COMMIT_TYPEHASH = keccak256("Commit(uint256 jobId,uint256 roundId,bytes32 commitment)");

    /// @notice Settles rounds in this contract's storage (DELEGATECALL only).
    RoundSettler public immutable settler;

    error NotRegistry(address caller);
    error NotSelf(address caller);
    error BadSignature();

    /// @notice A batch entry that failed the checks of the member's own call (`reason`: that
    ///         call's error selector); the batch went on without it.
    event BatchEntrySkipped(uint256 indexed jobId, uint256 indexed roundId, address indexed member, bytes4 reason);

    constructor(IERC20 token_, FederationRegistry registry_, address governance_)
        TrainingJobsBase(token_, registry_, governance_, new RoundPlanner())
        EIP712("MILON TrainingJobs", "2")
    {
        settler = new RoundSettler(token_, registry_, governance_, planner);
        _params = [
            uint256(300), // accept window (s)
            300, // reveal window (s)
            300, // verdict window (s)
            300, // confirm window (s)
            10_000, // max epochs per round
            128, // max round members
            3, // committee min
            7, // committee default
            31, // committee max
            6_666, // participation: share of committee weight that must vote (2/3, rounded down)
            5_000, // majority: share of the voted weight an update needs (strictly more)
            6_666, // confirmation: share of committee weight confirming one model hash (2/3)
            1_000, // validators' share of each accepted epoch's reward
            8_000, // agreement a validator needs with the majority to be paid
            200, // lapse penalty (bps of stake)
            100, // absent-validator penalty (bps of stake)
            5_000, // max epoch share of one member per round
            20_000, // ... and at most this multiple of the equal share
            2_000, // validators: minimum improvement, share of the round's median
            20_000 // validators: sample-count clip, multiple of the round's median
        ];
    }

    // ------------------------------------------------------------------ governed parameters

    /// @notice Set governed parameter `id` within its hard bounds (see `paramBounds`).
    function setParam(uint256 id, uint256 value) external onlyGovernance {
        (uint256 min, uint256 max) = paramBounds(id);
        if (value < min || value > max) revert ParamOutOfRange(id, value, min, max);
        if (id == P_COMMITTEE_MIN || id == P_COMMITTEE_DEFAULT || id == P_COMMITTEE_MAX) {
            uint256[3] memory c = [_params[P_COMMITTEE_MIN], _params[P_COMMITTEE_DEFAULT], _params[P_COMMITTEE_MAX]];
            c[id - P_COMMITTEE_MIN] = value;
            if (c[0] > c[1] || c[1] > c[2]) revert ParamOutOfRange(id, value, c[0], c[2]);
        }
        emit ParamSet(id, _params[id], value);
        _params[id] = value;
    }

    /// @notice Hard bounds of each governed parameter: governance moves values only inside them.
    function paramBounds(uint256 id) public pure returns (uint256 min, uint256 max) {
        if (id <= P_CONFIRM_WINDOW) return (60, 30 days);
        if (id == P_MAX_EPOCHS_PER_ROUND) return (1, 1_000_000);
        if (id == P_MAX_ROUND_MEMBERS) return (1, MAX_ROUND_MEMBERS_LIMIT);
        if (id <= P_COMMITTEE_MAX) return (3, 64);
        if (id == P_PARTICIPATION_BPS || id == P_CONFIRM_BPS) return (5_001, 10_000);
        if (id == P_MAJORITY_BPS) return (5_000, 9_000);
        if (id == P_VALIDATOR_SHARE_BPS) return (0, 3_000);
        if (id == P_AGREEMENT_BPS) return (5_000, 10_000);
        if (id == P_LAPSE_BPS || id == P_LIVENESS_BPS) return (0, 2_000);
        if (id == P_MAX_SHARE_BPS) return (1_000, 10_000);
        if (id == P_MAX_SHARE_OF_EQUAL_BPS) return (10_000, 100_000);
        if (id == P_MIN_IMPROVEMENT_BPS) return (0, 10_000);
        if (id == P_SAMPLE_CLIP_BPS) return (10_000, 100_000);
        revert UnknownParam(id);
    }

    function params() external view returns (uint256[PARAM_COUNT] memory) {
        return _params;
    }

    // ------------------------------------------------------------------ jobs

    function createJob(JobParams calldata p) external nonReentrant returns (uint256 jobId) {
        if (p.fedId == 0 || p.fedId > registry.federationCount()) revert UnknownFederation(p.fedId);
        if (p.totalEpochs == 0) revert ZeroEpochs();
        uint256 cap = _params[P_MAX_EPOCHS_PER_ROUND];
        uint256 maxPerRound = p.totalEpochs < cap ? p.totalEpochs : cap;
        if (p.epochsPerRound == 0 || p.epochsPerRound > maxPerRound) {
            revert BadEpochsPerRound(p.epochsPerRound, maxPerRound);
        }
        if (p.rewardPerEpoch == 0) revert ZeroReward();
        if (p.aggregationRule > MAX_AGGREGATION_RULE) revert BadAggregationRule(p.aggregationRule);
        if (p.committeeSize != 0) {
            (uint256 lo, uint256 hi) = (_params[P_COMMITTEE_MIN], _params[P_COMMITTEE_MAX]);
            if (p.committeeSize < lo || p.committeeSize > hi) revert BadCommitteeSize(p.committeeSize, lo, hi);
        }
        if (p.roundDuration == 0) revert ZeroRoundDuration();

        uint256 escrow = uint256(p.totalEpochs) * p.rewardPerEpoch;
        jobId = ++_jobCount;
        Job storage j = _jobs[jobId];
        j.owner = msg.sender;
        j.params = p;
        j.globalModelHash = p.initialModelHash;
        j.escrowRemaining = escrow;
        emit JobCreated(jobId, msg.sender, p.fedId, escrow);
        token.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @notice Refund the escrow; only the owner, only while no round is running.
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId);
        if (msg.sender != j.owner) revert NotJobOwner(msg.sender);
        if (j.status != JobStatus.Open) revert JobNotOpen(jobId);
        if (_inProgress(jobId, j.currentRound)) revert RoundInProgress(jobId, j.currentRound);
        uint256 refund = j.escrowRemaining;
        j.escrowRemaining = 0;
        j.status = JobStatus.Cancelled;
        emit JobCancelled(jobId, refund);
        if (refund > 0) token.safeTransfer(j.owner, refund);
    }

    // ------------------------------------------------------------------ rounds

    /// @notice Open the next round: split its epochs over the active members (the capacity each
    ///         declared for the job's model, else its general one, x delivery record, capped per
    ///         member) and draw its committee: `committeeSize` seats drawn by stake with
    ///         replacement (a member's weight is the seats it holds), or every member with its
    ///         stake as weight when there are no more members than seats.
    /// @dev The committee's randomness is `block.prevrandao` mixed with the previous block's hash,
    ///      the job and the round (see docs/threat-model.md for the bias a caller or a block
    ///      proposer can exert).
    function startRound(uint256 jobId) external returns (uint256 r) {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Open) revert JobNotOpen(jobId);
        if (_inProgress(jobId, j.currentRound)) revert RoundInProgress(jobId, j.currentRound);
        uint256 fedId = j.params.fedId;
        (address[] memory accounts, uint64[] memory caps, uint256[] memory stakes) =
            registry.roundCandidates(fedId, j.params.modelSpecHash, _params[P_MAX_ROUND_MEMBERS]);
        // An update is judged by the committee without its author: a round needs two members.
        if (accounts.length < 2) revert TooFewMembers(fedId, accounts.length);

        uint256 left = uint256(j.params.totalEpochs) - j.epochsDone;
        uint256 e = j.params.epochsPerRound < left ? j.params.epochsPerRound : left;
        uint256[] memory weights = _weights(jobId, j.currentRound, fedId, accounts, caps);
        uint256 cap = _shareCap(e, weights);
        uint256[] memory room = new uint256[](weights.length);
        for (uint256 i; i < room.length; ++i) room[i] = cap;
        uint256[] memory shares = planner.fill(e, weights, room);

        r = ++j.currentRound;
        Round storage rd = _rounds[jobId][r];
        rd.epochs = uint32(e); // the cap is at least the equal share: every epoch is placed
        rd.shareCap = uint32(cap);
        rd.startedAt = uint64(block.timestamp);
        rd.acceptDeadline = uint64(block.timestamp + _params[P_ACCEPT_WINDOW]);
        rd.commitDeadline = rd.acceptDeadline + j.params.roundDuration;
        rd.revealDeadline = uint64(rd.commitDeadline + _params[P_REVEAL_WINDOW]);
        rd.verdictDeadline = uint64(rd.revealDeadline + _params[P_VERDICT_WINDOW]);
        rd.confirmDeadline = uint64(rd.verdictDeadline + _params[P_CONFIRM_WINDOW]);
        rd.baseModelHash = j.globalModelHash;
        emit RoundStarted(jobId, r, e, j.globalModelHash);
        (uint16 count, uint256[] memory pos) = _assign(jobId, r, fedId, accounts, weights, shares);
        rd.memberCount = count;
        rd.assignedCount = count;
        _drawCommittee(jobId, r, j.params.committeeSize, accounts, stakes, pos);
    }

    /// @notice Take on this round's epochs without committing yet (a member that trains past the
    ///         accept window). Committing within the window accepts as well (see `commit`).
    function accept(uint256 jobId, uint256 roundId) external {
        (Job storage j, Round storage rd, Slot storage a) = _respond(jobId, roundId);
        _take(j, rd, msg.sender);
        a.state = AssignmentState.Accepted;
        emit AssignmentAccepted(jobId, roundId, msg.sender, a.epochs);
    }

    /// @notice Give back this round's epochs; they are re-split over the members still in it.
    function decline(uint256 jobId, uint256 roundId) external {
        (Job storage j, Round storage rd, Slot storage a) = _respond(jobId, roundId);
        uint256 freed = a.epochs;
        a.state = AssignmentState.Declined;
        a.epochs = 0;
        rd.assignedCount -= 1;
        _release(j.params.fedId, msg.sender, 0, 0, false);
        emit AssignmentDeclined(jobId, roundId, msg.sender, freed);
        _settle(abi.encodeCall(RoundSettler.resplit, (jobId, roundId, freed)));
    }

    /// @notice After the accept window: members that neither accepted nor declined lapse. Each
    ///         loses the governed lapse penalty and its epochs go to the members that accepted.
    function closeAcceptance(uint256 jobId) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, _job(jobId).currentRound);
        uint256 roundId = j.currentRound;
        if (block.timestamp <= rd.acceptDeadline) revert AcceptanceOpen(rd.acceptDeadline);
        if (rd.assignedCount == 0) revert NothingLapsed();
        _settle(abi.encodeCall(RoundSettler.closeAcceptance, (jobId, roundId)));
    }

    /// @notice Commit to an update. A member still in `Assigned` state accepts by committing
    ///         (within the accept window, while active in the federation, like `accept`; its
    ///         `UpdateCommitted` stands for the `AssignmentAccepted` an explicit accept emits); a
    ///         committed member's epochs are final (later re-splits pass it by).
    function commit(uint256 jobId, uint256 roundId, bytes32 commitment) external {
        _commit(jobId, roundId, msg.sender, commitment);
    }

    /// @notice Many members' commits in one transaction (anyone may send it): each entry is
    ///         signed by the member it commits for and passes that member's own `commit`
    ///         checks, else it is skipped (`BatchEntrySkipped`) and the others still land, so
    ///         an entry cannot sink the batch. One base fee and warm round slots for all.
    function commitBatch(uint256 jobId, uint256 roundId, SignedCommit[] calldata entries)
        external
        returns (uint256 landed)
    {
        for (uint256 i; i < entries.length; ++i) {
            SignedCommit calldata e = entries[i];
            bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(COMMIT_TYPEHASH, jobId, roundId, e.commitment)));
            (address member, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, e.r, e.vs);
            if (err != ECDSA.RecoverError.NoError) {
                emit BatchEntrySkipped(jobId, roundId, address(0), BadSignature.selector);
                continue;
            }
            try this.commitAs(jobId, roundId, member, e.commitment) {
                ++landed;
            } catch (bytes memory why) {
                emit BatchEntrySkipped(jobId, roundId, member, bytes4(why));
            }
        }
    }

    /// @dev One batch entry, as its own call so that its revert undoes only itself.
    function commitAs(uint256 jobId, uint256 roundId, address member, bytes32 commitment) external {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _commit(jobId, roundId, member, commitment);
    }

    function _commit(uint256 jobId, uint256 roundId, address member, bytes32 commitment) internal {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        Slot storage a = _assignments[jobId][member];
        AssignmentState st = _stateIn(a, roundId);
        if (st == AssignmentState.Committed || st == AssignmentState.Revealed) revert AlreadyCommitted(member);
        if (st != AssignmentState.Accepted && st != AssignmentState.Assigned) revert NotAccepted(member);
        if (block.timestamp > rd.commitDeadline) revert CommitClosed(rd.commitDeadline);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        if (st == AssignmentState.Assigned) {
            if (block.timestamp > rd.acceptDeadline) revert AcceptClosed(rd.acceptDeadline);
            _take(j, rd, member);
        }
        a.state = AssignmentState.Committed;
        _hashes[jobId][member] = commitment;
        rd.committedCount += 1;
        emit UpdateCommitted(jobId, roundId, member, commitment);
    }

    /// @notice Open a commitment. Replays (an update hash revealed before in the job, or a copy
    ///         of another member's) are the committee's to reject (`REPLAY`, duplicates): an
    ///         on-chain set of every revealed hash cost a fresh slot (22k gas) per reveal.
    function reveal(uint256 jobId, uint256 roundId, bytes32 updateHash, uint64 numSamples, bytes32 salt) external {
        _reveal(jobId, roundId, Opening(msg.sender, updateHash, numSamples, salt));
    }

    /// @notice Many members' openings in one transaction (anyone may send it: an opening opens
    ///         only its member's own commitment, whose salt that member handed out). An entry
    ///         failing that member's own `reveal` checks is skipped, the others still land.
    function revealBatch(uint256 jobId, uint256 roundId, Opening[] calldata entries)
        external
        returns (uint256 landed)
    {
        for (uint256 i; i < entries.length; ++i) {
            try this.revealAs(jobId, roundId, entries[i]) {
                ++landed;
            } catch (bytes memory why) {
                emit BatchEntrySkipped(jobId, roundId, entries[i].member, bytes4(why));
            }
        }
    }

    /// @dev One batch entry, as its own call so that its revert undoes only itself.
    function revealAs(uint256 jobId, uint256 roundId, Opening calldata o) external {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _reveal(jobId, roundId, o);
    }

    function _reveal(uint256 jobId, uint256 roundId, Opening memory o) internal {
        (, Round storage rd) = _currentRound(jobId, roundId);
        Slot storage a = _assignments[jobId][o.member];
        AssignmentState st = _stateIn(a, roundId);
        if (st == AssignmentState.Revealed) revert AlreadyRevealed(o.member);
        if (st != AssignmentState.Committed) revert NotCommitted(o.member);
        if (!_commitClosed(rd)) revert RevealNotOpen();
        if (block.timestamp > rd.revealDeadline) revert RevealClosed(rd.revealDeadline);
        bytes32 opened = commitmentOf(o.updateHash, o.numSamples, o.salt, o.member, jobId, roundId);
        if (opened != _hashes[jobId][o.member]) revert BadReveal();
        if (o.numSamples == 0) revert ZeroSamples();
        _hashes[jobId][o.member] = o.updateHash; // the commitment is spent
        a.weight = o.numSamples; // the split weight no longer matters once committed
        a.state = AssignmentState.Revealed;
        rd.revealedBits |= 1 << a.index;
        emit UpdateRevealed(jobId, roundId, o.member, o.updateHash, o.numSamples);
    }

    /// @notice A committee member's verdict over every revealed update of the round: bit i of
    ///         `acceptBits` accepts round member i's update; `reasons` carries one reason code
    ///         per round member for the record (events only). The last vote tallies.
    function submitVerdict(uint256 jobId, uint256 roundId, uint256 acceptBits, bytes calldata reasons)
        external
        nonReentrant
    {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        SeatSlot storage s = _seats[jobId][roundId][msg.sender];
        if (s.index == 0) revert NotOnCommittee(msg.sender);
        if (s.voted) revert AlreadyVoted(msg.sender);
        if (!_verdictOpen(rd)) revert VerdictNotOpen();
        if (block.timestamp > rd.verdictDeadline) revert VerdictClosed(rd.verdictDeadline);
        if (acceptBits & ~rd.revealedBits != 0) revert VerdictOnUnrevealed(acceptBits & ~rd.revealedBits);
        s.voted = true;
        if (acceptBits != 0) _verdicts[jobId][roundId][msg.sender] = acceptBits;
        rd.votedWeight += s.weight;
        rd.votedCount += 1;
        emit VerdictSubmitted(jobId, roundId, msg.sender, acceptBits, reasons);
        if (rd.votedCount == rd.committeeCount) _settle(abi.encodeCall(RoundSettler.tally, (jobId, roundId)));
    }

    /// @notice Tally the verdicts once the verdict window is over (or there is nothing to judge).
    function closeVerdicts(uint256 jobId) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, _job(jobId).currentRound);
        if (rd.tallied) revert RoundClosed(jobId, j.currentRound);
        bool nothing = _verdictOpen(rd) && rd.revealedBits == 0;
        if (!nothing && block.timestamp <= rd.verdictDeadline) revert VerdictsOpen(rd.verdictDeadline);
        _settle(abi.encodeCall(RoundSettler.tally, (jobId, j.currentRound)));
    }

    /// @notice Confirm the hash of the aggregate of the accepted updates; the committee weight
    ///         confirming one hash reaching the governed share finalizes the round.
    function confirm(uint256 jobId, uint256 roundId, bytes32 modelHash) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        SeatSlot storage s = _seats[jobId][roundId][msg.sender];
        if (s.index == 0) revert NotOnCommittee(msg.sender);
        if (!rd.tallied) revert NotTallied();
        if (s.confirmed) revert AlreadyConfirmed(msg.sender);
        if (block.timestamp > rd.confirmDeadline) revert ConfirmClosed(rd.confirmDeadline);
        if (modelHash == bytes32(0)) revert ZeroModelHash();
        s.confirmed = true;
        _confirmedHashes[jobId][roundId][msg.sender] = modelHash;
        uint256 w = _confirms[jobId][roundId][modelHash] + s.weight;
        _confirms[jobId][roundId][modelHash] = w;
        emit ModelConfirmed(jobId, roundId, msg.sender, modelHash, w);
        if (w * 10_000 >= rd.committeeWeight * _params[P_CONFIRM_BPS]) {
            _settle(abi.encodeCall(RoundSettler.finalize, (jobId, roundId, modelHash)));
        }
    }

    /// @notice Close a round that cannot finish: nobody accepted, the committee did not vote
    ///         enough, or it did not confirm a model in time. Contributors who revealed are
    ///         neither paid nor slashed; no-shows, lapses and absent committee members are.
    function timeoutRound(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId);
        uint256 roundId = j.currentRound;
        if (j.status != JobStatus.Open || !_inProgress(jobId, roundId)) revert NoRoundInProgress(jobId);
        Round storage rd = _rounds[jobId][roundId];
        bool nobodyAccepted = block.timestamp > rd.acceptDeadline && rd.acceptedCount == 0;
        if (!nobodyAccepted && block.timestamp <= rd.confirmDeadline) revert RoundNotStuck(rd.confirmDeadline);
        if (!nobodyAccepted && !rd.tallied) {
            // may finalize (nothing accepted) or fail the round
            _settle(abi.encodeCall(RoundSettler.tally, (jobId, roundId)));
            if (rd.finalized || rd.timedOut) return;
        }
        _settle(abi.encodeCall(RoundSettler.fail, (jobId, roundId)));
    }

    /// @notice Called by the registry as `account` joins federation `fedId`: opens its delivery
    ///         record there and its reward balance, so its rounds update both (~5k gas a write)
    ///         rather than create them (22k). Changes no value that anything reads.
    function memberJoined(uint256 fedId, address account) external {
        if (msg.sender != address(registry)) revert NotRegistry(msg.sender);
        Record storage d = _records[fedId][account];
        if (!d.opened) d.opened = true;
        if (_credits[account] == 0) _credits[account] = 1;
    }

    /// @notice Rewards credited to `account` and not yet claimed.
    function claimable(address account) public view returns (uint256) {
        uint256 c = _credits[account];
        return c == 0 ? 0 : c - 1;
    }

    /// @notice Pull the caller's credited rewards (the balance slot stays open: see `_credits`).
    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable(msg.sender);
        if (amount == 0) revert NothingToClaim();
        _credits[msg.sender] = 1;
        emit Claimed(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function job(uint256 jobId) external view returns (Job memory) {
        return _job(jobId);
    }

    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    function round(uint256 jobId, uint256 r) external view returns (Round memory rd) {
        _job(jobId);
        rd = _rounds[jobId][r];
        rd.revealedCount = uint16(RoundMath.popcount(rd.revealedBits));
    }

    /// @notice `commitment` while committed (0 once revealed: the slot then holds `updateHash`);
    ///         `weight` until committed, `numSamples` once revealed (they share a field).
    ///         A member's record holds its latest round: an earlier round it took part in
    ///         reads as no assignment here (that round's events say what it was).
    function assignment(uint256 jobId, uint256 r, address member) external view returns (Assignment memory a) {
        Slot memory s = _assignments[jobId][member];
        if (s.round != r || r == 0) return a;
        bool revealed = s.state == AssignmentState.Revealed;
        bool open = s.state == AssignmentState.Assigned || s.state == AssignmentState.Accepted;
        // the hash slot holds an earlier round's update hash until the member commits
        bytes32 h = revealed || s.state == AssignmentState.Committed ? _hashes[jobId][member] : bytes32(0);
        a = Assignment(
            s.epochs,
            s.index,
            open ? s.weight : 0,
            s.state,
            revealed ? s.weight : 0,
            revealed ? bytes32(0) : h,
            revealed ? h : bytes32(0)
        );
    }

    /// @notice The rounds of a job before round `r` that `member` took on (accepted, committed
    ///         or revealed) and their epochs: what its privacy accounting counts. Exact for any
    ///         `r` from the member's latest round in the job on (the record keeps running totals).
    function takenBefore(uint256 jobId, uint256 r, address member)
        external
        view
        returns (uint256 rounds, uint256 epochs)
    {
        Slot memory s = _assignments[jobId][member];
        (rounds, epochs) = (s.takenRounds, s.takenEpochs);
        if (s.round < r && _took(s.state)) (rounds, epochs) = (rounds + 1, epochs + s.epochs);
    }

    /// @notice The last round of a job in which a member was slashed. Such a member sits out
    ///         that job's next round, so epochs it failed are not handed straight back to it.
    function lastSlashedRound(uint256 jobId, address member) external view returns (uint256) {
        return _assignments[jobId][member].slashedRound;
    }

    /// @notice Open assignments and committee seats of `account` in federation `fedId`'s rounds
    ///         that have not closed: while non-zero, its stake stays locked.
    function pendingWork(uint256 fedId, address account) external view returns (uint256) {
        return _records[fedId][account].pending;
    }

    function roundMembers(uint256 jobId, uint256 r) external view returns (address[] memory) {
        return _members(jobId, r);
    }

    function committee(uint256 jobId, uint256 r) external view returns (address[] memory) {
        return _committees[jobId][r];
    }

    function seat(uint256 jobId, uint256 r, address who) external view returns (Seat memory) {
        SeatSlot memory s = _seats[jobId][r][who];
        return Seat(s.index, s.voted, s.confirmed, s.weight, _verdicts[jobId][r][who], _confirmedHashes[jobId][r][who]);
    }

    /// @notice A member's delivery record in a federation and the factor (bps) it scales capacity by.
    function delivery(uint256 fedId, address member) external view returns (Delivery memory d, uint256 factorBps) {
        Record memory x = _records[fedId][member];
        d = Delivery(x.taken, x.delivered);
        factorBps = (uint256(d.delivered) + DELIVERY_PRIOR) * 10_000 / (uint256(d.taken) + DELIVERY_PRIOR);
    }

    function commitmentOf(
        bytes32 updateHash,
        uint64 numSamples,
        bytes32 salt,
        address member,
        uint256 jobId,
        uint256 r
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(updateHash, numSamples, salt, member, jobId, r));
    }

    // ------------------------------------------------------------------ internals

    function _respond(uint256 jobId, uint256 roundId)
        internal
        view
        returns (Job storage j, Round storage rd, Slot storage a)
    {
        (j, rd) = _currentRound(jobId, roundId);
        a = _assignments[jobId][msg.sender];
        AssignmentState st = _stateIn(a, roundId);
        if (st == AssignmentState.None) revert NotAssigned(msg.sender);
        if (st != AssignmentState.Assigned) revert AlreadyResponded(msg.sender);
        if (block.timestamp > rd.acceptDeadline) revert AcceptClosed(rd.acceptDeadline);
    }

    /// @dev Take on an assignment (an explicit accept, or a commit in the accept window).
    function _take(Job storage j, Round storage rd, address member) internal {
        if (!registry.isActive(j.params.fedId, member)) revert NotEligible(member);
        rd.assignedCount -= 1;
        rd.acceptedCount += 1;
    }

    /// @dev Run `data` (a RoundSettler call) in this contract's storage; bubble a revert.
    function _settle(bytes memory data) internal {
        (bool ok, bytes memory ret) = address(settler).delegatecall(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
