// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {FederationRegistry} from "./FederationRegistry.sol";
import {RoundMath} from "./RoundMath.sol";
import {RoundPlanner} from "./RoundPlanner.sol";

/// @title The state, types, events and internal logic of TrainingJobs (protocol v2).
/// @notice Shared by TrainingJobs and RoundSettler: the settler runs by DELEGATECALL in
///         TrainingJobs' storage, so both must declare exactly this storage and nothing more.
abstract contract TrainingJobsBase {
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
        uint16 revealedCount; // not stored (always 0 in storage): the `round` view counts revealedBits
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

    /// @dev An assignment as stored: one slot per (job, member), which each round the member
    ///      takes part in overwrites (~3k gas instead of 22k for a fresh slot). `round` says which
    ///      round it holds: an earlier round's record reads as None. `weight` only matters until
    ///      the member commits, so the sample count it reveals takes its place. `slashedRound`
    ///      and the `taken*` totals (rounds before `round` the member took, and their epochs, for
    ///      its privacy accounting) carry over from round to round. Its commitment and, once
    ///      revealed, its update hash share one slot of `_hashes`, also reused.
    struct Slot {
        uint32 epochs;
        uint8 index; // < MAX_ROUND_MEMBERS_LIMIT
        AssignmentState state;
        uint32 round;
        uint32 slashedRound; // the last round of the job in which the member was slashed
        uint64 weight; // the split weight until committed; the sample count once revealed
        uint16 takenRounds;
        uint64 takenEpochs;
    }

    /// @dev A seat as stored (the `seat` view assembles `Seat`). `own`: 1 + the holder's index
    ///      in the round's member list, 0 when it holds no assignment in the round.
    struct SeatSlot {
        uint8 index;
        bool voted;
        bool confirmed;
        uint16 own;
        uint128 weight;
    }

    /// @dev A member's delivery record and its stake lock in a federation, in one slot.
    struct Record {
        uint104 taken;
        uint104 delivered;
        uint32 pending; // open assignments and seats (see `pendingWork`)
        bool opened; // set at join (`memberJoined`): a round never writes this slot from zero
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
    /// @notice The epoch split and committee draw (a contract of its own, for code size).
    RoundPlanner public immutable planner;

    uint256[PARAM_COUNT] internal _params;

    uint256 internal _jobCount;
    mapping(uint256 jobId => Job) internal _jobs;
    mapping(uint256 jobId => mapping(uint256 roundId => Round)) internal _rounds;
    /// @dev A round's members, 20 bytes each, in the order of their bits in the bitmaps, kept as
    ///      the code of a data contract (a 0x00 STOP byte, then the list): writing code costs
    ///      200 gas a byte against 22,100 a storage slot (~4k instead of ~14k gas per member).
    mapping(uint256 jobId => mapping(uint256 roundId => address)) internal _roundMembers;
    mapping(uint256 jobId => mapping(address => Slot)) internal _assignments;
    /// @dev The commitment, then the update hash, of the round in the member's `_assignments` record.
    mapping(uint256 jobId => mapping(address => bytes32)) internal _hashes;
    mapping(uint256 jobId => mapping(uint256 roundId => address[])) internal _committees;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => SeatSlot))) internal _seats;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => uint256))) internal _verdicts;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(address => bytes32))) internal _confirmedHashes;
    mapping(uint256 jobId => mapping(uint256 roundId => mapping(bytes32 modelHash => uint256))) internal _confirms;

    /// @dev An account's claimable rewards + 1 once its slot is open (at its first join, see
    ///      `memberJoined`; else at its first credit): credits and claims then only update a
    ///      non-zero slot (~5k gas) instead of writing one from zero (22k). `claimable` reads it.
    mapping(address account => uint256) internal _credits;
    mapping(uint256 fedId => mapping(address account => Record)) internal _records;

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

    constructor(IERC20 token_, FederationRegistry registry_, address governance_, RoundPlanner planner_) {
        if (address(token_) == address(0) || address(registry_) == address(0) || governance_ == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        registry = registry_;
        governance = governance_;
        planner = planner_;
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
            Record memory d = _records[fedId][accounts[i]];
            all[i] = uint256(caps[i]) * (uint256(d.delivered) + DELIVERY_PRIOR) / (uint256(d.taken) + DELIVERY_PRIOR);
            if (all[i] == 0) all[i] = 1;
            if (previous == 0 || _assignments[jobId][accounts[i]].slashedRound != previous) {
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

    /// @dev One storage slot per assignment (and its list entry); the stake lock shares the
    ///      member's delivery-record slot. Returns, per candidate, 1 + its index in the round's
    ///      member list (0: no epochs), for the committee's seats.
    function _assign(
        uint256 jobId,
        uint256 r,
        uint256 fedId,
        address[] memory accounts,
        uint256[] memory weights,
        uint256[] memory shares
    ) internal returns (uint16 count, uint256[] memory pos) {
        mapping(address => Slot) storage byMember = _assignments[jobId];
        pos = new uint256[](accounts.length);
        bytes memory packed = new bytes(20 * accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            if (shares[i] == 0) continue;
            address who = accounts[i];
            assembly ("memory-safe") {
                // in increasing order: each write's 12-byte tail is overwritten by the next
                mstore(add(add(packed, 32), mul(count, 20)), shl(96, who))
            }
            Slot memory old = byMember[who];
            if (_took(old.state)) {
                if (old.takenRounds < type(uint16).max) old.takenRounds += 1;
                old.takenEpochs += old.epochs;
            }
            // a weight is a capacity (uint64) scaled by a factor of at most 1
            byMember[who] = Slot(
                uint32(shares[i]),
                uint8(count),
                AssignmentState.Assigned,
                uint32(r),
                old.slashedRound,
                uint64(weights[i]),
                old.takenRounds,
                old.takenEpochs
            );
            _records[fedId][accounts[i]].pending += 1;
            emit EpochsAssigned(jobId, r, accounts[i], shares[i]);
            pos[i] = ++count;
        }
        assembly ("memory-safe") {
            mstore(packed, mul(count, 20))
        }
        _roundMembers[jobId][r] = _storeCode(packed);
    }

    /// @dev Deploy `data` as the code of a contract that cannot run (it starts with STOP).
    ///      Init code: PUSH2 size, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE,
    ///      RETURN: it returns the 0x00 byte and `data` that follow its 10 bytes.
    function _storeCode(bytes memory data) internal returns (address ptr) {
        bytes memory init = abi.encodePacked(hex"61", uint16(data.length + 1), hex"80600a3d393df300", data);
        assembly ("memory-safe") {
            ptr := create(0, add(init, 32), mload(init))
        }
        if (ptr == address(0)) revert ZeroAddress();
    }

    /// @dev A round's members in bit order (one code read of the data contract).
    function _members(uint256 jobId, uint256 r) internal view returns (address[] memory list) {
        bytes memory packed = _roundMembers[jobId][r].code;
        uint256 n = packed.length == 0 ? 0 : (packed.length - 1) / 20;
        list = new address[](n);
        for (uint256 i; i < n; ++i) {
            address who;
            assembly ("memory-safe") {
                who := shr(96, mload(add(add(packed, 33), mul(i, 20))))
            }
            list[i] = who;
        }
    }

    /// @dev Re-split `freed` epochs over the members still in the round that have not committed
    ///      (only those that accepted, once acceptance has closed), within the round's per-member
    ///      cap. A committed member's epochs are fixed: it trained on them.
    function _resplit(uint256 jobId, uint256 roundId, Round storage rd, uint256 freed, bool acceptedOnly) internal {
        address[] memory list = _members(jobId, roundId);
        uint256 n = list.length;
        uint256[] memory weights = new uint256[](n);
        uint256[] memory room = new uint256[](n);
        uint256 shareCap = rd.shareCap;
        for (uint256 i; i < n; ++i) {
            Slot storage o = _assignments[jobId][list[i]];
            bool open = o.state == AssignmentState.Accepted || (!acceptedOnly && o.state == AssignmentState.Assigned);
            if (open && o.epochs < shareCap) {
                weights[i] = o.weight;
                room[i] = shareCap - o.epochs;
            }
        }
        uint256[] memory extra = planner.fill(freed, weights, room);
        uint256 placed;
        for (uint256 i; i < n; ++i) {
            if (extra[i] == 0) continue;
            Slot storage o = _assignments[jobId][list[i]];
            o.epochs += uint32(extra[i]);
            placed += extra[i];
            emit EpochsAssigned(jobId, roundId, list[i], o.epochs);
        }
        rd.epochs -= uint32(freed - placed); // epochs nobody could take leave the round
    }

    function _lapse(uint256 jobId, uint256 roundId, uint256 fedId, Round storage rd) internal returns (uint256 freed) {
        address[] memory list = _members(jobId, roundId);
        uint256 bps = _params[P_LAPSE_BPS];
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            Slot storage a = _assignments[jobId][m];
            if (a.state != AssignmentState.Assigned) continue;
            uint256 epochs = a.epochs;
            freed += epochs;
            emit AssignmentLapsed(jobId, roundId, m, epochs);
            _release(fedId, m, epochs, 0, true);
            a.state = AssignmentState.Lapsed;
            a.epochs = 0;
            _slash(jobId, roundId, fedId, m, bps, SLASH_LAPSED);
        }
        rd.assignedCount = 0;
    }

    // ------------------------------------------------------------------ internals: committee

    /// @param pos per candidate, 1 + its index in the round's member list (0: none)
    function _drawCommittee(
        uint256 jobId,
        uint256 r,
        uint8 requested,
        address[] memory accounts,
        uint256[] memory stakes,
        uint256[] memory pos
    ) internal {
        uint256 k = requested == 0 ? _params[P_COMMITTEE_DEFAULT] : requested;
        if (k < _params[P_COMMITTEE_MIN]) k = _params[P_COMMITTEE_MIN];
        if (k > _params[P_COMMITTEE_MAX]) k = _params[P_COMMITTEE_MAX];
        bytes32 seed = keccak256(abi.encode(block.prevrandao, blockhash(block.number - 1), jobId, r));
        uint256[] memory seats = planner.drawSeats(seed, stakes, k);
        uint256 count;
        for (uint256 i; i < seats.length; ++i) if (seats[i] > 0) ++count;
        address[] memory chosen = new address[](count);
        uint256[] memory weights = new uint256[](count);
        uint256[] memory own = new uint256[](count);
        count = 0;
        for (uint256 i; i < seats.length; ++i) {
            if (seats[i] == 0) continue;
            chosen[count] = accounts[i];
            own[count] = pos[i];
            weights[count++] = seats[i];
        }
        _seat(jobId, r, chosen, weights, own);
        emit CommitteeDrawn(jobId, r, chosen, weights);
    }

    /// @dev A seat locks its holder's stake like an assignment does (``pendingWork``) until the
    ///      round closes, so a committee member cannot withdraw what its duty puts at stake.
    function _seat(uint256 jobId, uint256 r, address[] memory chosen, uint256[] memory weights, uint256[] memory own)
        internal
    {
        address[] storage members = _committees[jobId][r];
        uint256 fedId = _jobs[jobId].params.fedId;
        uint256 total;
        for (uint256 i; i < chosen.length; ++i) {
            members.push(chosen[i]);
            _records[fedId][chosen[i]].pending += 1;
            _seats[jobId][r][chosen[i]] = SeatSlot(uint8(i + 1), false, false, uint16(own[i]), uint128(weights[i]));
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

    /// @dev Reads only the committee's seats (each knows its holder's own bit), not the members.
    ///      One pass per seat adds its weight to the updates it accepts (its holder's own left
    ///      out), then one pass over the updates decides each: O(k·n) cheap steps rather than a
    ///      call per update over every ballot (~400k gas less at 64 members).
    function _decide(uint256 jobId, uint256 roundId, Round storage rd) internal view returns (uint256 acc, uint256 rej) {
        address[] storage members = _committees[jobId][roundId];
        uint256 revealed = rd.revealedBits;
        uint256 n; // 1 + the highest revealed index
        assembly ("memory-safe") {
            for {} and(lt(n, 256), iszero(iszero(shr(n, revealed)))) {} { n := add(n, 1) }
        }
        uint256[] memory yes = new uint256[](n);
        uint256[] memory ownWeight = new uint256[](n); // the author's own seat: out of the total
        uint256[] memory ownCast = new uint256[](n); // ... and out of the weight that voted
        for (uint256 s; s < members.length; ++s) {
            SeatSlot storage st = _seats[jobId][roundId][members[s]];
            uint256 w = st.weight;
            uint256 bits = _verdicts[jobId][roundId][members[s]] & revealed;
            if (st.own != 0 && st.own <= n) {
                uint256 i = st.own - 1;
                ownWeight[i] = w;
                if (st.voted) ownCast[i] = w;
                bits &= ~(uint256(1) << i);
            }
            // Sums of at most 64 seat weights (each < 2^128) cannot overflow, and `bits` has no
            // bit at or above `n` (masked by `revealed`): every write lands inside `yes`.
            assembly ("memory-safe") {
                for { let p := add(yes, 32) } bits {
                    p := add(p, 32)
                    bits := shr(1, bits)
                } { if and(bits, 1) { mstore(p, add(mload(p), w)) } }
            }
        }
        (uint256 voted, uint256 total) = (rd.votedWeight, rd.committeeWeight);
        (uint256 pBps, uint256 mBps) = (_params[P_PARTICIPATION_BPS], _params[P_MAJORITY_BPS]);
        for (uint256 i; i < n; ++i) {
            if ((revealed >> i) & 1 == 0) continue;
            int256 v = _verdictOn(yes[i], voted - ownCast[i], total - ownWeight[i], pBps, mBps);
            if (v > 0) acc |= uint256(1) << i;
            else if (v < 0) rej |= uint256(1) << i;
        }
    }

    /// @dev +1 accepted, -1 rejected, 0 undecided (too little weight voted on it, or a tie), from
    ///      the weight accepting it, the weight that voted on it and the weight that could have.
    function _verdictOn(uint256 yes, uint256 cast, uint256 total, uint256 participation, uint256 majority)
        internal
        pure
        returns (int256)
    {
        if (cast == 0 || cast * 10_000 < total * participation) return 0;
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
        address[] memory list = _members(c.jobId, c.roundId);
        uint256 accepted = rd.acceptedBits;
        uint256 rejected = rd.rejectedBits;
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            Slot storage a = _assignments[c.jobId][m];
            AssignmentState st = a.state;
            if (st != AssignmentState.Accepted && st != AssignmentState.Committed && st != AssignmentState.Revealed) {
                continue;
            }
            uint256 epochs = a.epochs;
            if (accepted & (1 << i) != 0) {
                uint256 amount = epochs * c.reward;
                uint256 cut = amount * c.share / 10_000;
                amount -= cut;
                c.pool += cut;
                c.paid += amount;
                c.trained += epochs;
                c.accepted += 1;
                _credit(m, amount);
                _release(c.fedId, m, epochs, epochs, true);
                emit RewardCredited(c.jobId, c.roundId, m, amount);
            } else if (st != AssignmentState.Revealed || rejected & (1 << i) != 0) {
                _release(c.fedId, m, epochs, 0, true);
                bytes32 why = st == AssignmentState.Revealed ? SLASH_REJECTED : SLASH_MISSING;
                _slash(c.jobId, c.roundId, c.fedId, m, c.bps, why);
            } else {
                _release(c.fedId, m, 0, 0, false);
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
            address who = members[s];
            SeatSlot storage st = _seats[c.jobId][c.roundId][who];
            _release(c.fedId, who, 0, 0, false);
            if (!st.voted) {
                if (rd.revealedBits != 0) {
                    _slash(c.jobId, c.roundId, c.fedId, who, _params[P_LIVENESS_BPS], SLASH_ABSENT);
                }
                continue;
            }
            // Confirming another model disqualifies; not confirming (the round may have
            // finalized before this member's turn) does not.
            if (st.confirmed && _confirmedHashes[c.jobId][c.roundId][who] != model) continue;
            if (_faulted(c, rd, who)) continue;
            if (_agreed(c, rd, who, _verdicts[c.jobId][c.roundId][who])) {
                ok[s] = true;
                okWeight += st.weight;
            }
        }
        if (c.pool == 0 || okWeight == 0) return 0;
        for (uint256 s; s < k; ++s) {
            if (!ok[s]) continue;
            uint256 amount = c.pool * _seats[c.jobId][c.roundId][members[s]].weight / okWeight;
            _credit(members[s], amount);
            paid += amount;
            emit ValidatorPaid(c.jobId, c.roundId, members[s], amount);
        }
    }

    /// @dev A member whose own work this round was rejected, missing or let lapse earns no
    ///      validator pay.
    function _faulted(Settle memory c, Round storage rd, address who) internal view returns (bool) {
        Slot storage own = _assignments[c.jobId][who];
        AssignmentState st = _stateIn(own, c.roundId);
        if (st == AssignmentState.Accepted || st == AssignmentState.Committed || st == AssignmentState.Lapsed) {
            return true;
        }
        return st == AssignmentState.Revealed && rd.rejectedBits & (uint256(1) << own.index) != 0;
    }

    /// @dev Whether a verdict matched the outcome on at least `agreementBps` of the decided
    ///      updates, the validator's own update (if it contributed) left out.
    function _agreed(Settle memory c, Round storage rd, address who, uint256 verdict) internal view returns (bool) {
        uint256 decided = rd.acceptedBits | rd.rejectedBits;
        Slot storage own = _assignments[c.jobId][who];
        if (_stateIn(own, c.roundId) != AssignmentState.None) decided &= ~(uint256(1) << own.index);
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
        address[] memory list = _members(jobId, roundId);
        uint256 bps = registry.slashBps();
        uint256 slashed;
        for (uint256 i; i < list.length; ++i) {
            address m = list[i];
            Slot storage a = _assignments[jobId][m];
            AssignmentState st = a.state;
            if (st == AssignmentState.Accepted || st == AssignmentState.Committed) {
                _release(fedId, m, a.epochs, 0, true);
                _slash(jobId, roundId, fedId, m, bps, SLASH_MISSING);
                ++slashed;
            } else if (st == AssignmentState.Revealed) {
                _release(fedId, m, 0, 0, false);
            }
        }
        bool judged = rd.revealedBits != 0 && _commitClosed(rd) && block.timestamp > rd.verdictDeadline;
        address[] storage members = _committees[jobId][roundId];
        for (uint256 s; s < members.length; ++s) {
            _release(fedId, members[s], 0, 0, false);
            if (!judged || _seats[jobId][roundId][members[s]].voted) continue;
            _slash(jobId, roundId, fedId, members[s], _params[P_LIVENESS_BPS], SLASH_ABSENT);
            ++slashed;
        }
        emit RoundTimedOut(jobId, roundId, slashed);
    }

    /// @dev Release one stake lock (an assignment or a seat) and, when `recordIt`, update the
    ///      delivery record (decayed by 7/8, then `taken`/`delivered` added): one slot, one write.
    function _release(uint256 fedId, address m, uint256 taken, uint256 delivered, bool recordIt) internal {
        Record memory d = _records[fedId][m];
        if (recordIt) {
            d.taken = uint104(uint256(d.taken) * 7 / 8 + taken);
            d.delivered = uint104(uint256(d.delivered) * 7 / 8 + delivered);
        }
        d.pending -= 1;
        _records[fedId][m] = d;
    }

    function _credit(address who, uint256 amount) internal {
        uint256 c = _credits[who];
        _credits[who] = (c == 0 ? 1 : c) + amount;
    }

    function _slash(uint256 jobId, uint256 roundId, uint256 fedId, address m, uint256 bps, bytes32 reason) internal {
        // every other reason is a round member's: its record holds this round
        if (reason != SLASH_ABSENT) _assignments[jobId][m].slashedRound = uint32(roundId);
        uint256 amount = registry.stakeOf(fedId, m) * bps / 10_000;
        if (amount == 0) return;
        uint256 taken = registry.slash(fedId, m, amount, reason);
        emit MemberSlashed(jobId, roundId, m, taken);
    }

    // ------------------------------------------------------------------ internals: phases

    /// @dev Reads the round's first slot (its start time, which the phases read anyway) and its
    ///      flags on the way through, not the job: a round started and neither finalized nor
    ///      timed out is its job's current one (a round starts only once the previous one
    ///      closed) and belongs to an open job (`cancelJob` refuses while a round is in
    ///      progress; a job completes only as its round finalizes). The job's round counter and
    ///      count are read only to name what is wrong.
    function _currentRound(uint256 jobId, uint256 roundId) internal view returns (Job storage j, Round storage rd) {
        j = _jobs[jobId];
        rd = _rounds[jobId][roundId];
        if (rd.startedAt != 0 && !rd.finalized && !rd.timedOut) return (j, rd);
        uint256 current = j.currentRound;
        if (roundId == 0 || roundId != current) {
            _job(jobId);
            revert WrongRound(roundId, current);
        }
        revert RoundClosed(jobId, roundId);
    }

    /// @dev No more commits can arrive: the deadline passed, or acceptance closed and every
    ///      member that accepted has committed.
    function _commitClosed(Round storage rd) internal view returns (bool) {
        if (block.timestamp > rd.commitDeadline) return true;
        return rd.assignedCount == 0 && rd.committedCount == rd.acceptedCount;
    }

    function _verdictOpen(Round storage rd) internal view returns (bool) {
        if (block.timestamp > rd.revealDeadline) return true;
        return _commitClosed(rd) && RoundMath.popcount(rd.revealedBits) == rd.committedCount;
    }

    function _inProgress(uint256 jobId, uint256 roundId) internal view returns (bool) {
        if (roundId == 0) return false;
        Round storage rd = _rounds[jobId][roundId];
        return !rd.finalized && !rd.timedOut;
    }

    /// @dev A record's state in round `r`: None when it holds an earlier round's assignment.
    function _stateIn(Slot storage a, uint256 r) internal view returns (AssignmentState) {
        return a.round == r ? a.state : AssignmentState.None;
    }

    /// @dev The member took the round on (accepted, committed or revealed): a release of its
    ///      data, whatever became of the update.
    function _took(AssignmentState st) internal pure returns (bool) {
        return st == AssignmentState.Accepted || st == AssignmentState.Committed || st == AssignmentState.Revealed;
    }

    function _job(uint256 jobId) internal view returns (Job storage j) {
        if (jobId == 0 || jobId > _jobCount) revert UnknownJob(jobId);
        j = _jobs[jobId];
    }
}
