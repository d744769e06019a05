// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FederationRegistry} from "./FederationRegistry.sol";
import {ITrainingJobsPending} from "./ITrainingJobsPending.sol";
import {RoundMath} from "./RoundMath.sol";

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
contract TrainingJobs is ReentrancyGuardTransient, ITrainingJobsPending {
    using SafeERC20 for IERC20;

    enum JobStatus {
        Open,
        Completed,
        Cancelled
    }

    enum AssignmentState {
        None,
        Assigned,
        Accepted,
        Declined,
        Committed,
        Revealed,
        Lapsed
    }

    struct JobParams {
        uint256 fedId;
        bytes32 modelSpecHash;
        bytes32 datasetSpecHash;
        bytes32 initialModelHash;
        uint32 totalEpochs;
        uint32 epochsPerRound;
        uint256 rewardPerEpoch;
        uint8 aggregationRule;
        uint8 committeeSize; // 0: the governed default; else within the governed bounds
        uint64 roundDuration;
        uint64 maxSamples; // bound on an update's sample count in aggregation weights (0: none)
    }

    struct Job {
        address owner;
        JobParams params;
        bytes32 globalModelHash;
        uint32 currentRound;
        uint32 epochsDone;
        uint256 escrowRemaining;
        JobStatus status;
        bytes32 finalModelHash;
    }

    struct Round {
        uint32 epochs;
        uint32 epochsTrained;
        uint32 shareCap;
        uint16 memberCount;
        uint16 assignedCount;
        uint16 acceptedCount;
        uint16 committedCount;
        uint16 revealedCount;
        uint8 committeeCount;
        uint8 votedCount;
        uint64 startedAt;
        uint64 acceptDeadline;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 verdictDeadline;
        uint64 confirmDeadline;
        uint256 committeeWeight;
        uint256 votedWeight;
        uint256 revealedBits; // bit i: round member i revealed
        uint256 acceptedBits; // after the tally: accepted by the committee majority
        uint256 rejectedBits; // after the tally: rejected by the committee majority
        bytes32 baseModelHash;
        bytes32 newModelHash;
        bool tallied;
        bool finalized;
        bool timedOut;
    }

    struct Assignment {
        uint32 epochs;
        uint16 index; // position in the round's member list (bit in the verdict bitmaps)
        uint256 weight; // effective capacity the split used
        AssignmentState state;
        uint64 numSamples;
        bytes32 commitment;
        bytes32 updateHash;
    }

    struct Seat {
        uint8 index; // 1-based position in the committee; 0: not on it
        bool voted;
        bool confirmed;
        uint128 weight; // seats drawn for it, or its stake when every member sits
        uint256 verdict; // bit i: accepts round member i's update
        bytes32 confirmedHash;
    }

    struct Ballot {
        uint256 weight;
        uint256 bits;
        bool voted;
    }

    struct Settle {
        uint256 jobId;
        uint256 roundId;
        uint256 fedId;
        uint256 reward;
        uint256 share;
        uint256 bps;
        uint256 trained;
        uint256 paid;
        uint256 pool;
        uint256 accepted;
    }

    struct Delivery {
        uint128 taken; // epochs taken on, decayed by 7/8 at each of the member's settlements
        uint128 delivered; // of those, epochs the committee accepted
    }

    // Governed parameters, by id (see `setParam`).
    uint256 public constant P_ACCEPT_WINDOW = 0;
    uint256 public constant P_REVEAL_WINDOW = 1;
    uint256 public constant P_VERDICT_WINDOW = 2;
    uint256 public constant P_CONFIRM_WINDOW = 3;
    uint256 public constant P_MAX_EPOCHS_PER_ROUND = 4;
    uint256 public constant P_MAX_ROUND_MEMBERS = 5;
    uint256 public constant P_COMMITTEE_MIN = 6;
    uint256 public constant P_COMMITTEE_DEFAULT = 7;
    uint256 public constant P_COMMITTEE_MAX = 8;
    uint256 public constant P_PARTICIPATION_BPS = 9;
    uint256 public constant P_MAJORITY_BPS = 10;
    uint256 public constant P_CONFIRM_BPS = 11;
    uint256 public constant P_VALIDATOR_SHARE_BPS = 12;
    uint256 public constant P_AGREEMENT_BPS = 13;
    uint256 public constant P_LAPSE_BPS = 14;
    uint256 public constant P_LIVENESS_BPS = 15;
    uint256 public constant P_MAX_SHARE_BPS = 16;
    uint256 public constant P_MAX_SHARE_OF_EQUAL_BPS = 17;
    uint256 public constant P_MIN_IMPROVEMENT_BPS = 18;
    uint256 public constant P_SAMPLE_CLIP_BPS = 19;
    uint256 public constant PARAM_COUNT = 20;

    uint8 public constant MAX_AGGREGATION_RULE = 4; // 0 FedAvg, 1 Median, 2 TrimmedMean, 3 Krum, 4 MultiKrum
    uint256 public constant MAX_ROUND_MEMBERS_LIMIT = 256; // one bit per member in a uint256
    /// @notice Pseudo-epochs added to both sides of a delivery record, so a newcomer starts at 1.
    uint256 public constant DELIVERY_PRIOR = 2;
    bytes32 public constant SLASH_MISSING = "missing-update";
    bytes32 public constant SLASH_REJECTED = "rejected-update";
    bytes32 public constant SLASH_LAPSED = "lapsed-assignment";
    bytes32 public constant SLASH_ABSENT = "absent-validator";

    IERC20 public immutable token;
    FederationRegistry public immutable registry;
    address public immutable governance;

    uint256[PARAM_COUNT] private _params;

    uint256 private _jobCount;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => mapping(uint256 roundId => Round)) private _rounds;
    mapping(uint256 jobId => mapping(uint256 roundId => address[])) private _roundMembers;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => Assignment))) private _assignments;
    mapping(uint256 jobId => mapping(uint256 roundId => address[])) private _committees;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => Seat))) private _seats;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(bytes32 modelHash => uint256))) private _confirms;
    mapping(uint256 jobId => mapping(bytes32 updateHash => bool)) private _revealedHashes;

    mapping(address account => uint256) public claimable;
    /// @notice Rounds of a federation in which a member holds an open assignment (assigned,
    ///         accepted, committed or revealed and not yet settled): its stake stays locked.
    mapping(uint256 fedId => mapping(address account => uint256)) public pendingWork;
    /// @notice The last round of a job in which a member was slashed. Such a member sits out
    ///         that job's next round, so epochs it failed are not handed straight back to it.
    mapping(uint256 jobId => mapping(address account => uint256)) public lastSlashedRound;
    mapping(uint256 fedId => mapping(address account => Delivery)) private _delivery;

    error NotGovernance(address caller);
    error ZeroAddress();
    error UnknownParam(uint256 id);
    error ParamOutOfRange(uint256 id, uint256 value, uint256 min, uint256 max);
    error UnknownFederation(uint256 fedId);
    error UnknownJob(uint256 jobId);
    error ZeroEpochs();
    error BadEpochsPerRound(uint256 epochsPerRound, uint256 max);
    error ZeroReward();
    error BadAggregationRule(uint8 rule);
    error BadCommitteeSize(uint256 size, uint256 min, uint256 max);
    error ZeroRoundDuration();
    error NotJobOwner(address caller);
    error JobNotOpen(uint256 jobId);
    error RoundInProgress(uint256 jobId, uint256 round);
    error NoRoundInProgress(uint256 jobId);
    error TooFewMembers(uint256 fedId, uint256 active);
    error WrongRound(uint256 given, uint256 current);
    error RoundClosed(uint256 jobId, uint256 round);
    error NotAssigned(address account);
    error NotEligible(address account);
    error AlreadyResponded(address account);
    error AcceptClosed(uint256 deadline);
    error AcceptanceOpen(uint256 deadline);
    error NothingLapsed();
    error NotAccepted(address account);
    error AlreadyCommitted(address account);
    error CommitClosed(uint256 deadline);
    error ZeroCommitment();
    error NotCommitted(address account);
    error AlreadyRevealed(address account);
    error RevealNotOpen();
    error RevealClosed(uint256 deadline);
    error BadReveal();
    error ZeroSamples();
    error UpdateReplayed(bytes32 updateHash);
    error NotOnCommittee(address account);
    error AlreadyVoted(address account);
    error VerdictNotOpen();
    error VerdictClosed(uint256 deadline);
    error VerdictOnUnrevealed(uint256 bits);
    error VerdictsOpen(uint256 deadline);
    error NotTallied();
    error AlreadyConfirmed(address account);
    error ConfirmClosed(uint256 deadline);
    error ZeroModelHash();
    error RoundNotStuck(uint256 deadline);
    error NothingToClaim();

    event JobCreated(uint256 indexed jobId, address indexed owner, uint256 indexed fedId, uint256 escrow);
    event JobCancelled(uint256 indexed jobId, uint256 refund);
    event JobCompleted(uint256 indexed jobId, bytes32 finalModelHash, uint256 refund);
    event RoundStarted(uint256 indexed jobId, uint256 indexed round, uint256 epochs, bytes32 globalModelHash);
    event EpochsAssigned(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event CommitteeDrawn(uint256 indexed jobId, uint256 indexed round, address[] members, uint256[] weights);
    event AssignmentAccepted(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event AssignmentDeclined(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event AssignmentLapsed(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event UpdateCommitted(uint256 indexed jobId, uint256 indexed round, address indexed member, bytes32 commitment);
    event UpdateRevealed(
        uint256 indexed jobId, uint256 indexed round, address indexed member, bytes32 updateHash, uint64 numSamples
    );
    /// @param reasons one reason code per round member (0: accepted or nothing to judge).
    event VerdictSubmitted(
        uint256 indexed jobId, uint256 indexed round, address indexed validator, uint256 acceptBits, bytes reasons
    );
    event VerdictsTallied(
        uint256 indexed jobId, uint256 indexed round, uint256 acceptedBits, uint256 rejectedBits, uint256 votedWeight
    );
    event ModelConfirmed(
        uint256 indexed jobId, uint256 indexed round, address indexed validator, bytes32 modelHash, uint256 weight
    );
    event RoundFinalized(
        uint256 indexed jobId, uint256 indexed round, bytes32 newModelHash, uint256 acceptedCount, uint256 epochsTrained
    );
    event RoundTimedOut(uint256 indexed jobId, uint256 indexed round, uint256 slashedCount);
    event RewardCredited(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 amount);
    event ValidatorPaid(uint256 indexed jobId, uint256 indexed round, address indexed validator, uint256 amount);
    event MemberSlashed(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 amount);
    event Claimed(address indexed account, uint256 amount);
    event ParamSet(uint256 indexed id, uint256 oldValue, uint256 newValue);

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    constructor(IERC20 token_, FederationRegistry registry_, address governance_) {
        if (address(token_) == address(0) || address(registry_) == address(0) || governance_ == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        registry = registry_;
        governance = governance_;
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
        uint256[] memory shares = RoundMath.fill(e, weights, room);

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
        uint16 count = _assign(jobId, r, fedId, accounts, weights, shares);
        rd.memberCount = count;
        rd.assignedCount = count;
        _drawCommittee(jobId, r, j.params.committeeSize, accounts, stakes);
    }

    function accept(uint256 jobId, uint256 roundId) external {
        (Job storage j, Round storage rd, Assignment storage a) = _respond(jobId, roundId);
        if (!registry.isActive(j.params.fedId, msg.sender)) revert NotEligible(msg.sender);
        a.state = AssignmentState.Accepted;
        rd.assignedCount -= 1;
        rd.acceptedCount += 1;
        emit AssignmentAccepted(jobId, roundId, msg.sender, a.epochs);
    }

    /// @notice Give back this round's epochs; they are re-split over the members still in it.
    function decline(uint256 jobId, uint256 roundId) external {
        (Job storage j, Round storage rd, Assignment storage a) = _respond(jobId, roundId);
        uint256 freed = a.epochs;
        a.state = AssignmentState.Declined;
        a.epochs = 0;
        rd.assignedCount -= 1;
        pendingWork[j.params.fedId][msg.sender] -= 1;
        emit AssignmentDeclined(jobId, roundId, msg.sender, freed);
        _resplit(jobId, roundId, rd, freed, false);
    }

    /// @notice After the accept window: members that neither accepted nor declined lapse. Each
    ///         loses the governed lapse penalty and its epochs go to the members that accepted.
    function closeAcceptance(uint256 jobId) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, _job(jobId).currentRound);
        uint256 roundId = j.currentRound;
        if (block.timestamp <= rd.acceptDeadline) revert AcceptanceOpen(rd.acceptDeadline);
        if (rd.assignedCount == 0) revert NothingLapsed();
        uint256 freed = _lapse(jobId, roundId, j.params.fedId, rd);
        _resplit(jobId, roundId, rd, freed, true);
    }

    /// @notice Commit to an update once acceptance has closed (every member answered or lapsed).
    function commit(uint256 jobId, uint256 roundId, bytes32 commitment) external {
        (, Round storage rd) = _currentRound(jobId, roundId);
        Assignment storage a = _assignments[jobId][roundId][msg.sender];
        if (a.state == AssignmentState.Committed || a.state == AssignmentState.Revealed) {
            revert AlreadyCommitted(msg.sender);
        }
        if (a.state != AssignmentState.Accepted) revert NotAccepted(msg.sender);
        if (rd.assignedCount != 0) revert AcceptanceOpen(rd.acceptDeadline);
        if (block.timestamp > rd.commitDeadline) revert CommitClosed(rd.commitDeadline);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        a.commitment = commitment;
        a.state = AssignmentState.Committed;
        rd.committedCount += 1;
        emit UpdateCommitted(jobId, roundId, msg.sender, commitment);
    }

    /// @notice Open a commitment. An update hash revealed before in this job is refused (replay).
    function reveal(uint256 jobId, uint256 roundId, bytes32 updateHash, uint64 numSamples, bytes32 salt) external {
        (, Round storage rd) = _currentRound(jobId, roundId);
        Assignment storage a = _assignments[jobId][roundId][msg.sender];
        if (a.state == AssignmentState.Revealed) revert AlreadyRevealed(msg.sender);
        if (a.state != AssignmentState.Committed) revert NotCommitted(msg.sender);
        if (!_commitClosed(rd)) revert RevealNotOpen();
        if (block.timestamp > rd.revealDeadline) revert RevealClosed(rd.revealDeadline);
        if (commitmentOf(updateHash, numSamples, salt, msg.sender, jobId, roundId) != a.commitment) revert BadReveal();
        if (numSamples == 0) revert ZeroSamples();
        if (_revealedHashes[jobId][updateHash]) revert UpdateReplayed(updateHash);
        _revealedHashes[jobId][updateHash] = true;
        a.updateHash = updateHash;
        a.numSamples = numSamples;
        a.state = AssignmentState.Revealed;
        rd.revealedCount += 1;
        rd.revealedBits |= 1 << a.index;
        emit UpdateRevealed(jobId, roundId, msg.sender, updateHash, numSamples);
    }

    /// @notice A committee member's verdict over every revealed update of the round: bit i of
    ///         `acceptBits` accepts round member i's update; `reasons` carries one reason code
    ///         per round member for the record (events only). The last vote tallies.
    function submitVerdict(uint256 jobId, uint256 roundId, uint256 acceptBits, bytes calldata reasons)
        external
        nonReentrant
    {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        Seat storage s = _seats[jobId][roundId][msg.sender];
        if (s.index == 0) revert NotOnCommittee(msg.sender);
        if (s.voted) revert AlreadyVoted(msg.sender);
        if (!_verdictOpen(rd)) revert VerdictNotOpen();
        if (block.timestamp > rd.verdictDeadline) revert VerdictClosed(rd.verdictDeadline);
        if (acceptBits & ~rd.revealedBits != 0) revert VerdictOnUnrevealed(acceptBits & ~rd.revealedBits);
        s.voted = true;
        s.verdict = acceptBits;
        rd.votedWeight += s.weight;
        rd.votedCount += 1;
        emit VerdictSubmitted(jobId, roundId, msg.sender, acceptBits, reasons);
        if (rd.votedCount == rd.committeeCount) _tally(jobId, roundId, j, rd);
    }

    /// @notice Tally the verdicts once the verdict window is over (or there is nothing to judge).
    function closeVerdicts(uint256 jobId) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, _job(jobId).currentRound);
        if (rd.tallied) revert RoundClosed(jobId, j.currentRound);
        bool nothing = _verdictOpen(rd) && rd.revealedCount == 0;
        if (!nothing && block.timestamp <= rd.verdictDeadline) revert VerdictsOpen(rd.verdictDeadline);
        _tally(jobId, j.currentRound, j, rd);
    }

    /// @notice Confirm the hash of the aggregate of the accepted updates; the committee weight
    ///         confirming one hash reaching the governed share finalizes the round.
    function confirm(uint256 jobId, uint256 roundId, bytes32 modelHash) external nonReentrant {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        Seat storage s = _seats[jobId][roundId][msg.sender];
        if (s.index == 0) revert NotOnCommittee(msg.sender);
        if (!rd.tallied) revert NotTallied();
        if (s.confirmed) revert AlreadyConfirmed(msg.sender);
        if (block.timestamp > rd.confirmDeadline) revert ConfirmClosed(rd.confirmDeadline);
        if (modelHash == bytes32(0)) revert ZeroModelHash();
        s.confirmed = true;
        s.confirmedHash = modelHash;
        uint256 w = _confirms[jobId][roundId][modelHash] + s.weight;
        _confirms[jobId][roundId][modelHash] = w;
        emit ModelConfirmed(jobId, roundId, msg.sender, modelHash, w);
        if (w * 10_000 >= rd.committeeWeight * _params[P_CONFIRM_BPS]) _finalize(jobId, roundId, j, rd, modelHash);
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
            _tally(jobId, roundId, j, rd); // may finalize (nothing accepted) or fail the round
            if (rd.finalized || rd.timedOut) return;
        }
        _fail(jobId, roundId, j.params.fedId, rd);
    }

    /// @notice Pull the caller's credited rewards.
    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimable[msg.sender] = 0;
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

    function round(uint256 jobId, uint256 r) external view returns (Round memory) {
        _job(jobId);
        return _rounds[jobId][r];
    }

    function assignment(uint256 jobId, uint256 r, address member) external view returns (Assignment memory) {
        return _assignments[jobId][r][member];
    }

    function roundMembers(uint256 jobId, uint256 r) external view returns (address[] memory) {
        return _roundMembers[jobId][r];
    }

    function committee(uint256 jobId, uint256 r) external view returns (address[] memory) {
        return _committees[jobId][r];
    }

    function seat(uint256 jobId, uint256 r, address who) external view returns (Seat memory) {
        return _seats[jobId][r][who];
    }

    /// @notice A member's delivery record in a federation and the factor (bps) it scales capacity by.
    function delivery(uint256 fedId, address member) external view returns (Delivery memory d, uint256 factorBps) {
        d = _delivery[fedId][member];
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

    // ------------------------------------------------------------------ internals: assignment

    /// @dev Split weights: declared capacity x delivery factor; zero for members slashed in the
    ///      job's previous round (unless that is everyone: a round must go to someone).
    function _weights(uint256 jobId, uint256 previous, uint256 fedId, address[] memory accounts, uint64[] memory caps)
        internal
        view
        returns (uint256[] memory weights)
    {
        uint256 n = accounts.length;
        weights = new uint256[](n);
        uint256[] memory all = new uint256[](n);
        bool anyLeft;
        for (uint256 i; i < n; ++i) {
            Delivery memory d = _delivery[fedId][accounts[i]];
            all[i] = uint256(caps[i]) * (uint256(d.delivered) + DELIVERY_PRIOR) / (uint256(d.taken) + DELIVERY_PRIOR);
            if (all[i] == 0) all[i] = 1;
            if (previous == 0 || lastSlashedRound[jobId][accounts[i]] != previous) {
                weights[i] = all[i];
                anyLeft = true;
            }
        }
        if (!anyLeft) weights = all;
    }

    /// @dev At most `maxShareBps` of the round and `maxShareOfEqualBps` of the equal share, but
    ///      never below the equal share (rounded up), so every epoch can be placed.
    function _shareCap(uint256 e, uint256[] memory weights) internal view returns (uint256) {
        uint256 n;
        for (uint256 i; i < weights.length; ++i) if (weights[i] > 0) ++n;
        uint256 equal = (e + n - 1) / n;
        uint256 ofEqual = (e * _params[P_MAX_SHARE_OF_EQUAL_BPS] + n * 10_000 - 1) / (n * 10_000);
        uint256 ofRound = (e * _params[P_MAX_SHARE_BPS] + 9_999) / 10_000;
        uint256 cap = ofEqual < ofRound ? ofEqual : ofRound;
        return cap > equal ? cap : equal;
    }

    function _assign(
        uint256 jobId,
        uint256 r,
        uint256 fedId,
        address[] memory accounts,
        uint256[] memory weights,
        uint256[] memory shares
    ) internal returns (uint16 count) {
        address[] storage list = _roundMembers[jobId][r];
        mapping(address => Assignment) storage byMember = _assignments[jobId][r];
        for (uint256 i; i < accounts.length; ++i) {
            if (shares[i] == 0) continue;
            list.push(accounts[i]);
            byMember[accounts[i]] =
                Assignment(uint32(shares[i]), count, weights[i], AssignmentState.Assigned, 0, bytes32(0), bytes32(0));
            pendingWork[fedId][accounts[i]] += 1;
            emit EpochsAssigned(jobId, r, accounts[i], shares[i]);
            ++count;
        }
    }

    /// @dev Re-split `freed` epochs over the members still in the round (only those that
    ///      accepted, once acceptance has closed), within the round's per-member cap.
    function _resplit(uint256 jobId, uint256 roundId, Round storage rd, uint256 freed, bool acceptedOnly) internal {
        address[] storage list = _roundMembers[jobId][roundId];
        uint256 n = list.length;
        uint256[] memory weights = new uint256[](n);
        uint256[] memory room = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            Assignment storage o = _assignments[jobId][roundId][list[i]];
            bool open = o.state == AssignmentState.Accepted || (!acceptedOnly && o.state == AssignmentState.Assigned);
            if (open && o.epochs < rd.shareCap) {
                weights[i] = o.weight;
                room[i] = rd.shareCap - o.epochs;
            }
        }
        uint256[] memory extra = RoundMath.fill(freed, weights, room);
        uint256 placed;
        for (uint256 i; i < n; ++i) {
            if (extra[i] == 0) continue;
            Assignment storage o = _assignments[jobId][roundId][list[i]];
            o.epochs += uint32(extra[i]);
            placed += extra[i];
            emit EpochsAssigned(jobId, roundId, list[i], o.epochs);
        }
        rd.epochs -= uint32(freed - placed); // epochs nobody could take leave the round
    }

    function _lapse(uint256 jobId, uint256 roundId, uint256 fedId, Round storage rd) internal returns (uint256 freed) {
        address[] storage list = _roundMembers[jobId][roundId];
        uint256 bps = _params[P_LAPSE_BPS];
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            Assignment storage a = _assignments[jobId][roundId][m];
            if (a.state != AssignmentState.Assigned) continue;
            freed += a.epochs;
            emit AssignmentLapsed(jobId, roundId, m, a.epochs);
            _record(fedId, m, a.epochs, 0);
            a.state = AssignmentState.Lapsed;
            a.epochs = 0;
            pendingWork[fedId][m] -= 1;
            _slash(jobId, roundId, fedId, m, bps, SLASH_LAPSED);
        }
        rd.assignedCount = 0;
    }

    // ------------------------------------------------------------------ internals: committee

    function _drawCommittee(
        uint256 jobId,
        uint256 r,
        uint8 requested,
        address[] memory accounts,
        uint256[] memory stakes
    ) internal {
        uint256 k = requested == 0 ? _params[P_COMMITTEE_DEFAULT] : requested;
        if (k < _params[P_COMMITTEE_MIN]) k = _params[P_COMMITTEE_MIN];
        if (k > _params[P_COMMITTEE_MAX]) k = _params[P_COMMITTEE_MAX];
        bytes32 seed = keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), jobId, r));
        uint256[] memory seats = RoundMath.drawSeats(seed, stakes, k);
        uint256 count;
        for (uint256 i; i < seats.length; ++i) if (seats[i] > 0) ++count;
        address[] memory chosen = new address[](count);
        uint256[] memory weights = new uint256[](count);
        count = 0;
        for (uint256 i; i < seats.length; ++i) {
            if (seats[i] == 0) continue;
            chosen[count] = accounts[i];
            weights[count++] = seats[i];
        }
        _seat(jobId, r, chosen, weights);
        emit CommitteeDrawn(jobId, r, chosen, weights);
    }

    /// @dev A seat locks its holder's stake like an assignment does (``pendingWork``) until the
    ///      round closes, so a committee member cannot withdraw what its duty puts at stake.
    function _seat(uint256 jobId, uint256 r, address[] memory chosen, uint256[] memory weights) internal {
        address[] storage members = _committees[jobId][r];
        uint256 fedId = _jobs[jobId].params.fedId;
        uint256 total;
        for (uint256 i; i < chosen.length; ++i) {
            members.push(chosen[i]);
            pendingWork[fedId][chosen[i]] += 1;
            Seat storage s = _seats[jobId][r][chosen[i]];
            s.index = uint8(i + 1);
            s.weight = uint128(weights[i]);
            total += weights[i];
        }
        Round storage rd = _rounds[jobId][r];
        rd.committeeCount = uint8(chosen.length);
        rd.committeeWeight = total;
    }

    /// @dev Per update: accepted when more than `majorityBps` of the weight that voted on it
    ///      (its author's seat excluded) accepts, rejected when more than that rejects, provided
    ///      that weight is at least `participationBps` of the committee's (author excluded).
    ///      Too little participation overall fails the round.
    function _tally(uint256 jobId, uint256 roundId, Job storage j, Round storage rd) internal {
        rd.tallied = true;
        // Acceptance never closed (nobody called closeAcceptance): the unanswered assignments
        // lapse now, so they are penalised and release their stake lock like any other.
        if (rd.assignedCount != 0) _lapse(jobId, roundId, j.params.fedId, rd);
        if (rd.revealedBits == 0) {
            emit VerdictsTallied(jobId, roundId, 0, 0, rd.votedWeight);
            _finalize(jobId, roundId, j, rd, rd.baseModelHash);
            return;
        }
        if (rd.votedWeight * 10_000 < rd.committeeWeight * _params[P_PARTICIPATION_BPS]) {
            _fail(jobId, roundId, j.params.fedId, rd);
            return;
        }
        (uint256 acc, uint256 rej) = _decide(jobId, roundId, rd);
        rd.acceptedBits = acc;
        rd.rejectedBits = rej;
        emit VerdictsTallied(jobId, roundId, acc, rej, rd.votedWeight);
        if (acc == 0) _finalize(jobId, roundId, j, rd, rd.baseModelHash);
    }

    function _decide(uint256 jobId, uint256 roundId, Round storage rd) internal view returns (uint256 acc, uint256 rej) {
        Ballot[] memory ballots = _ballots(jobId, roundId);
        address[] storage list = _roundMembers[jobId][roundId];
        for (uint256 i; i < list.length; ++i) {
            if (rd.revealedBits & (1 << i) == 0) continue;
            uint256 own = _seats[jobId][roundId][list[i]].index; // the author's seat, 1-based (0: none)
            int256 v = _verdictOn(ballots, i, own, rd.committeeWeight);
            if (v > 0) acc |= 1 << i;
            else if (v < 0) rej |= 1 << i;
        }
    }

    function _ballots(uint256 jobId, uint256 roundId) internal view returns (Ballot[] memory ballots) {
        address[] storage members = _committees[jobId][roundId];
        ballots = new Ballot[](members.length);
        for (uint256 s; s < members.length; ++s) {
            Seat storage st = _seats[jobId][roundId][members[s]];
            ballots[s] = Ballot(st.weight, st.verdict, st.voted);
        }
    }

    /// @dev +1 accepted, -1 rejected, 0 undecided (too little weight voted on it, or a tie).
    function _verdictOn(Ballot[] memory ballots, uint256 i, uint256 own, uint256 total)
        internal
        view
        returns (int256)
    {
        uint256 yes;
        uint256 cast;
        for (uint256 s; s < ballots.length; ++s) {
            if (s + 1 == own) {
                total -= ballots[s].weight;
                continue;
            }
            if (!ballots[s].voted) continue;
            cast += ballots[s].weight;
            if (ballots[s].bits & (1 << i) != 0) yes += ballots[s].weight;
        }
        if (cast == 0 || cast * 10_000 < total * _params[P_PARTICIPATION_BPS]) return 0;
        uint256 majority = _params[P_MAJORITY_BPS];
        if (yes * 10_000 > cast * majority) return 1;
        if ((cast - yes) * 10_000 > cast * majority) return -1;
        return 0;
    }

    // ------------------------------------------------------------------ internals: settlement

    function _finalize(uint256 jobId, uint256 roundId, Job storage j, Round storage rd, bytes32 newModelHash) internal {
        rd.finalized = true;
        rd.newModelHash = newModelHash;
        Settle memory c = Settle(
            jobId,
            roundId,
            j.params.fedId,
            j.params.rewardPerEpoch,
            _params[P_VALIDATOR_SHARE_BPS],
            registry.slashBps(),
            0,
            0,
            0,
            0
        );
        _settleMembers(c, rd);
        uint256 paid = c.paid + _payCommittee(c, rd, newModelHash);
        j.escrowRemaining -= paid;
        j.globalModelHash = newModelHash;
        j.epochsDone += uint32(c.trained);
        rd.epochsTrained = uint32(c.trained);
        emit RoundFinalized(jobId, roundId, newModelHash, c.accepted, c.trained);

        if (j.epochsDone >= j.params.totalEpochs) {
            uint256 refund = j.escrowRemaining;
            j.escrowRemaining = 0;
            j.status = JobStatus.Completed;
            j.finalModelHash = newModelHash;
            emit JobCompleted(jobId, newModelHash, refund);
            if (refund > 0) token.safeTransfer(j.owner, refund);
        }
    }

    /// @dev Pay accepted updates (less the committee's cut, which forms its pool), slash
    ///      majority-rejected updates and no-shows, release undecided ones untouched.
    function _settleMembers(Settle memory c, Round storage rd) internal {
        address[] storage list = _roundMembers[c.jobId][c.roundId];
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            Assignment storage a = _assignments[c.jobId][c.roundId][m];
            AssignmentState st = a.state;
            if (st != AssignmentState.Accepted && st != AssignmentState.Committed && st != AssignmentState.Revealed) {
                continue;
            }
            pendingWork[c.fedId][m] -= 1;
            if (rd.acceptedBits & (1 << i) != 0) {
                uint256 amount = a.epochs * c.reward;
                uint256 cut = amount * c.share / 10_000;
                amount -= cut;
                c.pool += cut;
                c.paid += amount;
                c.trained += a.epochs;
                c.accepted += 1;
                claimable[m] += amount;
                _record(c.fedId, m, a.epochs, a.epochs);
                emit RewardCredited(c.jobId, c.roundId, m, amount);
            } else if (st != AssignmentState.Revealed || rd.rejectedBits & (1 << i) != 0) {
                _record(c.fedId, m, a.epochs, 0);
                bytes32 why = st == AssignmentState.Revealed ? SLASH_REJECTED : SLASH_MISSING;
                _slash(c.jobId, c.roundId, c.fedId, m, c.bps, why);
            }
        }
    }

    /// @dev The validators' pool goes, by weight, to committee members that voted, agreed with
    ///      the majority on at least `agreementBps` of the decided updates (their own excluded)
    ///      and confirmed the final model (when there was one to confirm). Absent members lose
    ///      the liveness penalty. What nobody qualifies for stays in the job's escrow.
    function _payCommittee(Settle memory c, Round storage rd, bytes32 model) internal returns (uint256 paid) {
        address[] storage members = _committees[c.jobId][c.roundId];
        uint256 k = members.length;
        bool[] memory ok = new bool[](k);
        uint256 okWeight;
        for (uint256 s; s < k; ++s) {
            Seat storage st = _seats[c.jobId][c.roundId][members[s]];
            pendingWork[c.fedId][members[s]] -= 1;
            if (!st.voted) {
                if (rd.revealedBits != 0) {
                    _slash(c.jobId, c.roundId, c.fedId, members[s], _params[P_LIVENESS_BPS], SLASH_ABSENT);
                }
                continue;
            }
            // Confirming another model disqualifies; not confirming (the round may have
            // finalized before this member's turn) does not.
            if (st.confirmed && st.confirmedHash != model) continue;
            if (_faulted(c, rd, members[s])) continue;
            if (_agreed(c, rd, members[s], st.verdict)) {
                ok[s] = true;
                okWeight += st.weight;
            }
        }
        if (c.pool == 0 || okWeight == 0) return 0;
        for (uint256 s; s < k; ++s) {
            if (!ok[s]) continue;
            uint256 amount = c.pool * _seats[c.jobId][c.roundId][members[s]].weight / okWeight;
            claimable[members[s]] += amount;
            paid += amount;
            emit ValidatorPaid(c.jobId, c.roundId, members[s], amount);
        }
    }

    /// @dev A member whose own work this round was rejected, missing or let lapse earns no
    ///      validator pay.
    function _faulted(Settle memory c, Round storage rd, address who) internal view returns (bool) {
        Assignment storage own = _assignments[c.jobId][c.roundId][who];
        AssignmentState st = own.state;
        if (st == AssignmentState.Accepted || st == AssignmentState.Committed || st == AssignmentState.Lapsed) {
            return true;
        }
        return st == AssignmentState.Revealed && rd.rejectedBits & (uint256(1) << own.index) != 0;
    }

    /// @dev Whether a verdict matched the outcome on at least `agreementBps` of the decided
    ///      updates, the validator's own update (if it contributed) left out.
    function _agreed(Settle memory c, Round storage rd, address who, uint256 verdict) internal view returns (bool) {
        uint256 decided = rd.acceptedBits | rd.rejectedBits;
        Assignment storage own = _assignments[c.jobId][c.roundId][who];
        if (own.state != AssignmentState.None) decided &= ~(uint256(1) << own.index);
        uint256 judged = RoundMath.popcount(decided);
        uint256 agreed = judged - RoundMath.popcount((verdict ^ rd.acceptedBits) & decided);
        return agreed * 10_000 >= judged * _params[P_AGREEMENT_BPS];
    }

    /// @dev A round that could not finish: lapses and no-shows are slashed, absent committee
    ///      members lose the liveness penalty (once there was something to judge), contributors
    ///      who revealed are released untouched.
    function _fail(uint256 jobId, uint256 roundId, uint256 fedId, Round storage rd) internal {
        rd.timedOut = true;
        if (rd.assignedCount != 0) _lapse(jobId, roundId, fedId, rd);
        address[] storage list = _roundMembers[jobId][roundId];
        uint256 bps = registry.slashBps();
        uint256 slashed;
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            AssignmentState st = _assignments[jobId][roundId][m].state;
            if (st == AssignmentState.Accepted || st == AssignmentState.Committed) {
                pendingWork[fedId][m] -= 1;
                _record(fedId, m, _assignments[jobId][roundId][m].epochs, 0);
                _slash(jobId, roundId, fedId, m, bps, SLASH_MISSING);
                ++slashed;
            } else if (st == AssignmentState.Revealed) {
                pendingWork[fedId][m] -= 1;
            }
        }
        bool judged = rd.revealedBits != 0 && _commitClosed(rd) && block.timestamp > rd.verdictDeadline;
        address[] storage members = _committees[jobId][roundId];
        for (uint256 s; s < members.length; ++s) {
            pendingWork[fedId][members[s]] -= 1;
            if (!judged || _seats[jobId][roundId][members[s]].voted) continue;
            _slash(jobId, roundId, fedId, members[s], _params[P_LIVENESS_BPS], SLASH_ABSENT);
            ++slashed;
        }
        emit RoundTimedOut(jobId, roundId, slashed);
    }

    function _record(uint256 fedId, address m, uint256 taken, uint256 delivered) internal {
        Delivery storage d = _delivery[fedId][m];
        d.taken = uint128(uint256(d.taken) * 7 / 8 + taken);
        d.delivered = uint128(uint256(d.delivered) * 7 / 8 + delivered);
    }

    function _slash(uint256 jobId, uint256 roundId, uint256 fedId, address m, uint256 bps, bytes32 reason) internal {
        if (reason != SLASH_ABSENT) lastSlashedRound[jobId][m] = roundId;
        uint256 amount = registry.stakeOf(fedId, m) * bps / 10_000;
        if (amount == 0) return;
        uint256 taken = registry.slash(fedId, m, amount, reason);
        emit MemberSlashed(jobId, roundId, m, taken);
    }

    // ------------------------------------------------------------------ internals: phases

    function _respond(uint256 jobId, uint256 roundId)
        internal
        view
        returns (Job storage j, Round storage rd, Assignment storage a)
    {
        (j, rd) = _currentRound(jobId, roundId);
        a = _assignments[jobId][roundId][msg.sender];
        if (a.state == AssignmentState.None) revert NotAssigned(msg.sender);
        if (a.state != AssignmentState.Assigned) revert AlreadyResponded(msg.sender);
        if (block.timestamp > rd.acceptDeadline) revert AcceptClosed(rd.acceptDeadline);
    }

    function _currentRound(uint256 jobId, uint256 roundId) internal view returns (Job storage j, Round storage rd) {
        j = _job(jobId);
        if (roundId == 0 || roundId != j.currentRound) revert WrongRound(roundId, j.currentRound);
        rd = _rounds[jobId][roundId];
        if (rd.finalized || rd.timedOut || j.status != JobStatus.Open) revert RoundClosed(jobId, roundId);
    }

    /// @dev No more commits can arrive: the deadline passed, or acceptance closed and every
    ///      member that accepted has committed.
    function _commitClosed(Round storage rd) internal view returns (bool) {
        if (block.timestamp > rd.commitDeadline) return true;
        return rd.assignedCount == 0 && rd.committedCount == rd.acceptedCount;
    }

    function _verdictOpen(Round storage rd) internal view returns (bool) {
        if (block.timestamp > rd.revealDeadline) return true;
        return _commitClosed(rd) && rd.revealedCount == rd.committedCount;
    }

    function _inProgress(uint256 jobId, uint256 roundId) internal view returns (bool) {
        if (roundId == 0) return false;
        Round storage rd = _rounds[jobId][roundId];
        return !rd.finalized && !rd.timedOut;
    }

    function _job(uint256 jobId) internal view returns (Job storage j) {
        if (jobId == 0 || jobId > _jobCount) revert UnknownJob(jobId);
        j = _jobs[jobId];
    }
}
