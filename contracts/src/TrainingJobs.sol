// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FederationRegistry} from "./FederationRegistry.sol";
import {ITrainingJobsPending} from "./ITrainingJobsPending.sol";

/// @title Training jobs, rounds, commit-reveal of updates and validator finalization.
/// @notice A job escrows `totalEpochs * rewardPerEpoch`. Each round splits epochs across the
///         federation's active members in proportion to capacity; members accept, train, commit
///         and reveal an update hash; validators (active members) propose the aggregated model
///         and the accepted set; a quorum of matching proposals finalizes the round, crediting
///         accepted members and slashing the others that took work. Rewards are pull-claimed.
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
        Revealed
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
        uint8 validatorQuorum;
        uint64 roundDuration;
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
        uint16 memberCount;
        uint16 assignedCount;
        uint16 acceptedCount;
        uint16 committedCount;
        uint16 revealedCount;
        uint64 startedAt;
        uint64 acceptDeadline;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 proposalDeadline;
        bytes32 baseModelHash;
        bytes32 newModelHash;
        bool finalized;
        bool timedOut;
    }

    struct Assignment {
        uint32 epochs;
        uint64 capacity;
        AssignmentState state;
        uint64 numSamples;
        bytes32 commitment;
        bytes32 updateHash;
    }

    struct Settle {
        uint256 jobId;
        uint256 roundId;
        uint256 fedId;
        uint256 reward;
        uint256 bps;
    }

    uint8 public constant MAX_AGGREGATION_RULE = 4; // 0 FedAvg, 1 Median, 2 TrimmedMean, 3 Krum, 4 MultiKrum
    uint64 public constant MIN_WINDOW = 60;
    uint64 public constant MAX_WINDOW = 30 days;
    uint256 public constant MAX_EPOCHS_PER_ROUND_LIMIT = 1_000_000;
    uint256 public constant MAX_ROUND_MEMBERS_LIMIT = 256;
    bytes32 public constant SLASH_MISSING = "missing-update";
    bytes32 public constant SLASH_REJECTED = "rejected-update";

    IERC20 public immutable token;
    FederationRegistry public immutable registry;
    address public immutable governance;

    uint64 public acceptWindow = 300;
    uint64 public revealWindow = 300;
    uint64 public proposalWindow = 300;
    uint256 public maxEpochsPerRound = 10_000;
    uint256 public maxRoundMembers = 128;

    uint256 private _jobCount;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => mapping(uint256 roundId => Round)) private _rounds;
    mapping(uint256 jobId => mapping(uint256 roundId => address[])) private _roundMembers;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => Assignment))) private _assignments;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(bytes32 key => uint256))) private _votes;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => bool))) private _proposed;

    mapping(address account => uint256) public claimable;
    mapping(uint256 fedId => mapping(address account => uint256)) public pendingWork;
    /// @notice The last round of a job in which a member was slashed. Such a member sits out
    ///         that job's next round, so epochs it failed are not handed straight back to it
    ///         (largest-remainder splits of a few epochs favour the same member every time).
    mapping(uint256 jobId => mapping(address account => uint256)) public lastSlashedRound;

    error NotGovernance(address caller);
    error ZeroAddress();
    error ParamOutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);
    error UnknownFederation(uint256 fedId);
    error UnknownJob(uint256 jobId);
    error ZeroEpochs();
    error BadEpochsPerRound(uint256 epochsPerRound, uint256 max);
    error ZeroReward();
    error BadAggregationRule(uint8 rule);
    error ZeroQuorum();
    error ZeroRoundDuration();
    error NotJobOwner(address caller);
    error JobNotOpen(uint256 jobId);
    error RoundInProgress(uint256 jobId, uint256 round);
    error NoRoundInProgress(uint256 jobId);
    error NoActiveMembers(uint256 fedId);
    error WrongRound(uint256 given, uint256 current);
    error RoundClosed(uint256 jobId, uint256 round);
    error NotAssigned(address account);
    error AlreadyResponded(address account);
    error AcceptClosed(uint256 deadline);
    error NotAccepted(address account);
    error AlreadyCommitted(address account);
    error CommitClosed(uint256 deadline);
    error ZeroCommitment();
    error NotCommitted(address account);
    error AlreadyRevealed(address account);
    error RevealNotOpen();
    error RevealClosed(uint256 deadline);
    error BadReveal();
    error NotValidator(address account);
    error AlreadyProposed(address account);
    error ProposalNotOpen();
    error ProposalClosed(uint256 deadline);
    error ZeroModelHash();
    error NotSorted();
    error NotRevealed(address account);
    error ModelChangedWithoutUpdates();
    error RoundNotStuck(uint256 proposalDeadline);
    error NothingToClaim();

    event JobCreated(uint256 indexed jobId, address indexed owner, uint256 indexed fedId, uint256 escrow);
    event JobCancelled(uint256 indexed jobId, uint256 refund);
    event JobCompleted(uint256 indexed jobId, bytes32 finalModelHash, uint256 refund);
    event RoundStarted(uint256 indexed jobId, uint256 indexed round, uint256 epochs, bytes32 globalModelHash);
    event EpochsAssigned(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event AssignmentAccepted(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event AssignmentDeclined(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 epochs);
    event UpdateCommitted(uint256 indexed jobId, uint256 indexed round, address indexed member, bytes32 commitment);
    event UpdateRevealed(
        uint256 indexed jobId, uint256 indexed round, address indexed member, bytes32 updateHash, uint64 numSamples
    );
    event RoundProposed(
        uint256 indexed jobId,
        uint256 indexed round,
        address indexed validator,
        bytes32 key,
        bytes32 newModelHash,
        address[] accepted,
        uint256 votes
    );
    event RoundFinalized(
        uint256 indexed jobId, uint256 indexed round, bytes32 newModelHash, uint256 acceptedCount, uint256 epochsTrained
    );
    event RoundTimedOut(uint256 indexed jobId, uint256 indexed round, uint256 slashedCount);
    event RewardCredited(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 amount);
    event MemberSlashed(uint256 indexed jobId, uint256 indexed round, address indexed member, uint256 amount);
    event Claimed(address indexed account, uint256 amount);
    event AcceptWindowSet(uint64 oldValue, uint64 newValue);
    event RevealWindowSet(uint64 oldValue, uint64 newValue);
    event ProposalWindowSet(uint64 oldValue, uint64 newValue);
    event MaxEpochsPerRoundSet(uint256 oldValue, uint256 newValue);
    event MaxRoundMembersSet(uint256 oldValue, uint256 newValue);

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
    }

    // ------------------------------------------------------------------ governed parameters

    function setAcceptWindow(uint64 value) external onlyGovernance {
        _checkWindow("acceptWindow", value);
        emit AcceptWindowSet(acceptWindow, value);
        acceptWindow = value;
    }

    function setRevealWindow(uint64 value) external onlyGovernance {
        _checkWindow("revealWindow", value);
        emit RevealWindowSet(revealWindow, value);
        revealWindow = value;
    }

    function setProposalWindow(uint64 value) external onlyGovernance {
        _checkWindow("proposalWindow", value);
        emit ProposalWindowSet(proposalWindow, value);
        proposalWindow = value;
    }

    function setMaxEpochsPerRound(uint256 value) external onlyGovernance {
        if (value == 0 || value > MAX_EPOCHS_PER_ROUND_LIMIT) {
            revert ParamOutOfRange("maxEpochsPerRound", value, 1, MAX_EPOCHS_PER_ROUND_LIMIT);
        }
        emit MaxEpochsPerRoundSet(maxEpochsPerRound, value);
        maxEpochsPerRound = value;
    }

    function setMaxRoundMembers(uint256 value) external onlyGovernance {
        if (value == 0 || value > MAX_ROUND_MEMBERS_LIMIT) {
            revert ParamOutOfRange("maxRoundMembers", value, 1, MAX_ROUND_MEMBERS_LIMIT);
        }
        emit MaxRoundMembersSet(maxRoundMembers, value);
        maxRoundMembers = value;
    }

    // ------------------------------------------------------------------ jobs

    function createJob(JobParams calldata p) external nonReentrant returns (uint256 jobId) {
        if (p.fedId == 0 || p.fedId > registry.federationCount()) revert UnknownFederation(p.fedId);
        if (p.totalEpochs == 0) revert ZeroEpochs();
        uint256 maxPerRound = p.totalEpochs < maxEpochsPerRound ? p.totalEpochs : maxEpochsPerRound;
        if (p.epochsPerRound == 0 || p.epochsPerRound > maxPerRound) {
            revert BadEpochsPerRound(p.epochsPerRound, maxPerRound);
        }
        if (p.rewardPerEpoch == 0) revert ZeroReward();
        if (p.aggregationRule > MAX_AGGREGATION_RULE) revert BadAggregationRule(p.aggregationRule);
        if (p.validatorQuorum == 0) revert ZeroQuorum();
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

    /// @notice Open the next round and split its epochs across active members by capacity.
    function startRound(uint256 jobId) external returns (uint256 r) {
        Job storage j = _job(jobId);
        if (j.status != JobStatus.Open) revert JobNotOpen(jobId);
        if (_inProgress(jobId, j.currentRound)) revert RoundInProgress(jobId, j.currentRound);
        uint256 fedId = j.params.fedId;
        (address[] memory accounts, uint64[] memory caps) = registry.roundCandidates(fedId, maxRoundMembers);
        if (accounts.length == 0) revert NoActiveMembers(fedId);

        uint256 left = uint256(j.params.totalEpochs) - j.epochsDone;
        uint256 e = j.params.epochsPerRound < left ? j.params.epochsPerRound : left;
        uint256[] memory weights = _benchSlashed(jobId, j.currentRound, accounts, caps);
        uint256[] memory shares = _split(e, weights);

        r = ++j.currentRound;
        Round storage rd = _rounds[jobId][r];
        rd.epochs = uint32(e);
        rd.startedAt = uint64(block.timestamp);
        rd.acceptDeadline = uint64(block.timestamp) + acceptWindow;
        rd.commitDeadline = rd.acceptDeadline + j.params.roundDuration;
        rd.revealDeadline = rd.commitDeadline + revealWindow;
        rd.proposalDeadline = rd.revealDeadline + proposalWindow;
        rd.baseModelHash = j.globalModelHash;
        emit RoundStarted(jobId, r, e, j.globalModelHash);
        uint16 count = _assign(jobId, r, accounts, caps, shares);
        rd.memberCount = count;
        rd.assignedCount = count;
    }

    function accept(uint256 jobId, uint256 roundId) external {
        (Job storage j, Round storage rd, Assignment storage a) = _respond(jobId, roundId);
        a.state = AssignmentState.Accepted;
        rd.assignedCount -= 1;
        rd.acceptedCount += 1;
        pendingWork[j.params.fedId][msg.sender] += 1;
        emit AssignmentAccepted(jobId, roundId, msg.sender, a.epochs);
    }

    /// @notice Give back this round's epochs; they are re-split over the members still in it.
    function decline(uint256 jobId, uint256 roundId) external {
        (, Round storage rd, Assignment storage a) = _respond(jobId, roundId);
        uint256 freed = a.epochs;
        a.state = AssignmentState.Declined;
        a.epochs = 0;
        rd.assignedCount -= 1;
        emit AssignmentDeclined(jobId, roundId, msg.sender, freed);

        address[] storage list = _roundMembers[jobId][roundId];
        uint256 n = list.length;
        uint256[] memory weights = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            Assignment storage o = _assignments[jobId][roundId][list[i]];
            if (o.state == AssignmentState.Assigned || o.state == AssignmentState.Accepted) weights[i] = o.capacity;
        }
        uint256[] memory extra = _split(freed, weights);
        for (uint256 i; i < n; ++i) {
            if (extra[i] == 0) continue;
            Assignment storage o = _assignments[jobId][roundId][list[i]];
            o.epochs += uint32(extra[i]);
            emit EpochsAssigned(jobId, roundId, list[i], o.epochs);
        }
    }

    /// @notice Bind this member to an update: keccak256(abi.encode(updateHash, numSamples, salt,
    ///         member, jobId, roundId)), so a commitment cannot be copied or replayed.
    function commit(uint256 jobId, uint256 roundId, bytes32 commitment) external {
        (, Round storage rd) = _currentRound(jobId, roundId);
        Assignment storage a = _assignments[jobId][roundId][msg.sender];
        if (a.state == AssignmentState.Committed || a.state == AssignmentState.Revealed) {
            revert AlreadyCommitted(msg.sender);
        }
        if (a.state != AssignmentState.Accepted) revert NotAccepted(msg.sender);
        if (block.timestamp > rd.commitDeadline) revert CommitClosed(rd.commitDeadline);
        if (commitment == bytes32(0)) revert ZeroCommitment();
        a.commitment = commitment;
        a.state = AssignmentState.Committed;
        rd.committedCount += 1;
        emit UpdateCommitted(jobId, roundId, msg.sender, commitment);
    }

    function reveal(uint256 jobId, uint256 roundId, bytes32 updateHash, uint64 numSamples, bytes32 salt) external {
        (, Round storage rd) = _currentRound(jobId, roundId);
        Assignment storage a = _assignments[jobId][roundId][msg.sender];
        if (a.state == AssignmentState.Revealed) revert AlreadyRevealed(msg.sender);
        if (a.state != AssignmentState.Committed) revert NotCommitted(msg.sender);
        if (!_commitClosed(rd)) revert RevealNotOpen();
        if (block.timestamp > rd.revealDeadline) revert RevealClosed(rd.revealDeadline);
        if (commitmentOf(updateHash, numSamples, salt, msg.sender, jobId, roundId) != a.commitment) revert BadReveal();
        a.updateHash = updateHash;
        a.numSamples = numSamples;
        a.state = AssignmentState.Revealed;
        rd.revealedCount += 1;
        emit UpdateRevealed(jobId, roundId, msg.sender, updateHash, numSamples);
    }

    /// @notice A validator's verdict: the aggregated model and the ascending list of members whose
    ///         updates it accepted. `validatorQuorum` identical verdicts finalize the round.
    function propose(uint256 jobId, uint256 roundId, bytes32 newModelHash, address[] calldata accepted)
        external
        nonReentrant
    {
        (Job storage j, Round storage rd) = _currentRound(jobId, roundId);
        if (!registry.isActive(j.params.fedId, msg.sender)) revert NotValidator(msg.sender);
        if (_proposed[jobId][roundId][msg.sender]) revert AlreadyProposed(msg.sender);
        if (!(block.timestamp > rd.revealDeadline || (_commitClosed(rd) && rd.revealedCount == rd.committedCount))) {
            revert ProposalNotOpen();
        }
        if (block.timestamp > rd.proposalDeadline) revert ProposalClosed(rd.proposalDeadline);
        if (newModelHash == bytes32(0)) revert ZeroModelHash();
        if (accepted.length == 0 && newModelHash != rd.baseModelHash) revert ModelChangedWithoutUpdates();
        for (uint256 i; i < accepted.length; ++i) {
            if (i > 0 && accepted[i] <= accepted[i - 1]) revert NotSorted();
            if (_assignments[jobId][roundId][accepted[i]].state != AssignmentState.Revealed) {
                revert NotRevealed(accepted[i]);
            }
        }
        _proposed[jobId][roundId][msg.sender] = true;
        bytes32 key = keccak256(abi.encode(newModelHash, accepted));
        uint256 votes = ++_votes[jobId][roundId][key];
        emit RoundProposed(jobId, roundId, msg.sender, key, newModelHash, accepted, votes);
        if (votes >= j.params.validatorQuorum) _finalize(jobId, roundId, j, rd, newModelHash, accepted);
    }

    /// @notice Close a round nobody finalized: members that took work and did not reveal are slashed.
    function timeoutRound(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId);
        uint256 roundId = j.currentRound;
        if (j.status != JobStatus.Open || !_inProgress(jobId, roundId)) revert NoRoundInProgress(jobId);
        Round storage rd = _rounds[jobId][roundId];
        bool nobodyAccepted = block.timestamp > rd.acceptDeadline && rd.acceptedCount == 0;
        if (block.timestamp <= rd.proposalDeadline && !nobodyAccepted) revert RoundNotStuck(rd.proposalDeadline);
        rd.timedOut = true;

        uint256 fedId = j.params.fedId;
        uint256 bps = registry.slashBps();
        address[] storage list = _roundMembers[jobId][roundId];
        uint256 slashed;
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            AssignmentState st = _assignments[jobId][roundId][m].state;
            if (st == AssignmentState.Accepted || st == AssignmentState.Committed) {
                pendingWork[fedId][m] -= 1;
                _slash(jobId, roundId, fedId, m, bps, SLASH_MISSING);
                ++slashed;
            } else if (st == AssignmentState.Revealed) {
                pendingWork[fedId][m] -= 1;
            }
        }
        emit RoundTimedOut(jobId, roundId, slashed);
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

    function proposalVotes(uint256 jobId, uint256 r, bytes32 key) external view returns (uint256) {
        return _votes[jobId][r][key];
    }

    function hasProposed(uint256 jobId, uint256 r, address validator) external view returns (bool) {
        return _proposed[jobId][r][validator];
    }

    /// @notice The key under which matching proposals are counted.
    function proposalKey(bytes32 newModelHash, address[] calldata accepted) external pure returns (bytes32) {
        return keccak256(abi.encode(newModelHash, accepted));
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

    /// @notice The deterministic capacity split, exposed so clients can predict assignments.
    function splitEpochs(uint256 total, uint256[] calldata weights) external pure returns (uint256[] memory) {
        return _split(total, weights);
    }

    // ------------------------------------------------------------------ internals

    function _finalize(
        uint256 jobId,
        uint256 roundId,
        Job storage j,
        Round storage rd,
        bytes32 newModelHash,
        address[] calldata accepted
    ) internal {
        rd.finalized = true;
        rd.newModelHash = newModelHash;
        (uint256 trained, uint256 paid) = _settle(jobId, roundId, j.params.fedId, j.params.rewardPerEpoch, accepted);
        j.escrowRemaining -= paid;
        j.globalModelHash = newModelHash;
        j.epochsDone += uint32(trained);
        rd.epochsTrained = uint32(trained);
        emit RoundFinalized(jobId, roundId, newModelHash, accepted.length, trained);

        if (j.epochsDone >= j.params.totalEpochs) {
            uint256 refund = j.escrowRemaining;
            j.escrowRemaining = 0;
            j.status = JobStatus.Completed;
            j.finalModelHash = newModelHash;
            emit JobCompleted(jobId, newModelHash, refund);
            if (refund > 0) token.safeTransfer(j.owner, refund);
        }
    }

    /// @dev Credit accepted members, slash the others that took work, release pending work.
    function _settle(uint256 jobId, uint256 roundId, uint256 fedId, uint256 reward, address[] calldata accepted)
        internal
        returns (uint256 trained, uint256 paid)
    {
        Settle memory c = Settle(jobId, roundId, fedId, reward, registry.slashBps());
        address[] storage list = _roundMembers[jobId][roundId];
        uint256 n = list.length;
        for (uint256 i; i < n; ++i) {
            address m = list[i];
            (uint256 epochs, uint256 amount) = _settleMember(c, m, _contains(accepted, m));
            trained += epochs;
            paid += amount;
        }
    }

    function _settleMember(Settle memory c, address m, bool isAccepted)
        internal
        returns (uint256 epochs, uint256 amount)
    {
        Assignment storage a = _assignments[c.jobId][c.roundId][m];
        AssignmentState st = a.state;
        if (st != AssignmentState.Accepted && st != AssignmentState.Committed && st != AssignmentState.Revealed) {
            return (0, 0);
        }
        pendingWork[c.fedId][m] -= 1;
        if (st == AssignmentState.Revealed && isAccepted) {
            epochs = a.epochs;
            amount = epochs * c.reward;
            claimable[m] += amount;
            emit RewardCredited(c.jobId, c.roundId, m, amount);
        } else {
            _slash(c.jobId, c.roundId, c.fedId, m, c.bps, st == AssignmentState.Revealed ? SLASH_REJECTED : SLASH_MISSING);
        }
    }

    function _assign(
        uint256 jobId,
        uint256 r,
        address[] memory accounts,
        uint64[] memory caps,
        uint256[] memory shares
    ) internal returns (uint16 count) {
        address[] storage list = _roundMembers[jobId][r];
        mapping(address => Assignment) storage byMember = _assignments[jobId][r];
        for (uint256 i; i < accounts.length; ++i) {
            if (shares[i] == 0) continue;
            list.push(accounts[i]);
            byMember[accounts[i]] =
                Assignment(uint32(shares[i]), caps[i], AssignmentState.Assigned, 0, bytes32(0), bytes32(0));
            emit EpochsAssigned(jobId, r, accounts[i], shares[i]);
            ++count;
        }
    }

    /// @dev Capacities as split weights, zero for members slashed in the job's previous round
    ///      (unless that is everyone: a round must go to someone).
    function _benchSlashed(uint256 jobId, uint256 previous, address[] memory accounts, uint64[] memory caps)
        internal
        view
        returns (uint256[] memory weights)
    {
        weights = new uint256[](caps.length);
        bool anyLeft;
        for (uint256 i; i < caps.length; ++i) {
            if (previous == 0 || lastSlashedRound[jobId][accounts[i]] != previous) {
                weights[i] = caps[i];
                anyLeft = true;
            }
        }
        if (!anyLeft) {
            for (uint256 i; i < caps.length; ++i) weights[i] = caps[i];
        }
    }

    function _slash(uint256 jobId, uint256 roundId, uint256 fedId, address m, uint256 bps, bytes32 reason) internal {
        lastSlashedRound[jobId][m] = roundId;
        uint256 amount = registry.stakeOf(fedId, m) * bps / 10_000;
        if (amount == 0) return;
        uint256 taken = registry.slash(fedId, m, amount, reason);
        emit MemberSlashed(jobId, roundId, m, taken);
    }

    /// @dev Floor shares of `total` by weight, then one more each to the largest remainders
    ///      (ties: lower index). Zero weights get nothing; all-zero weights give all zeros.
    function _split(uint256 total, uint256[] memory weights) internal pure returns (uint256[] memory shares) {
        uint256 n = weights.length;
        shares = new uint256[](n);
        uint256 sum;
        for (uint256 i; i < n; ++i) sum += weights[i];
        if (sum == 0 || total == 0) return shares;
        uint256[] memory rem = new uint256[](n);
        uint256 given;
        for (uint256 i; i < n; ++i) {
            uint256 p = total * weights[i];
            shares[i] = p / sum;
            rem[i] = p % sum;
            given += shares[i];
        }
        // sum(rem) == (total - given) * sum and each rem < sum, so more than `total - given`
        // remainders are non-zero: the picks below never fall on a zero remainder.
        for (uint256 k = given; k < total; ++k) {
            uint256 best;
            uint256 bestRem;
            for (uint256 i; i < n; ++i) {
                if (rem[i] > bestRem) {
                    best = i;
                    bestRem = rem[i];
                }
            }
            shares[best] += 1;
            rem[best] = 0;
        }
    }

    function _contains(address[] calldata sorted, address x) internal pure returns (bool) {
        uint256 lo;
        uint256 hi = sorted.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            address v = sorted[mid];
            if (v == x) return true;
            if (v < x) lo = mid + 1;
            else hi = mid;
        }
        return false;
    }

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

    /// @dev No more commits can arrive: the deadline passed, or every member that can still
    ///      commit has, and nobody can still accept.
    function _commitClosed(Round storage rd) internal view returns (bool) {
        if (block.timestamp > rd.commitDeadline) return true;
        bool acceptDone = block.timestamp > rd.acceptDeadline || rd.assignedCount == 0;
        return acceptDone && rd.committedCount == rd.acceptedCount;
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

    function _checkWindow(bytes32 name, uint64 value) internal pure {
        if (value < MIN_WINDOW || value > MAX_WINDOW) revert ParamOutOfRange(name, value, MIN_WINDOW, MAX_WINDOW);
    }
}
