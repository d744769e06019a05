// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Pure arithmetic of a round: epoch splits with per-member room, a stake-weighted
///        committee draw, bit counting. Kept apart so it can be read and tested on its own.
library RoundMath {
    /// @notice Split `total` by `weights`, each share at most `room[i]` (water-filling): members
    ///         whose exact proportional share exceeds their room get their room, the rest is
    ///         split again over the others, until nobody exceeds; then one largest-remainder
    ///         split. Zero weight or room gets nothing; what nobody has room for is not placed.
    function fill(uint256 total, uint256[] memory weights, uint256[] memory room)
        internal
        pure
        returns (uint256[] memory shares)
    {
        uint256 n = weights.length;
        shares = new uint256[](n);
        uint256[] memory w = new uint256[](n);
        for (uint256 i; i < n; ++i) w[i] = room[i] > 0 ? weights[i] : 0;
        uint256 left = total;
        // Each pass caps at least one member or is the last, so at most n + 1 passes.
        while (left > 0) {
            uint256 sum;
            for (uint256 i; i < n; ++i) sum += w[i];
            if (sum == 0) break;
            uint256 capped;
            for (uint256 i; i < n; ++i) {
                // Capping others only raises the rest's shares: deciding a whole pass on its
                // starting `left` and `sum` never caps anyone too early.
                if (w[i] > 0 && left * w[i] > room[i] * sum) {
                    shares[i] = room[i];
                    capped += room[i];
                    w[i] = 0;
                }
            }
            if (capped == 0) {
                uint256[] memory add = split(left, w);
                for (uint256 i; i < n; ++i) shares[i] += add[i];
                break;
            }
            left -= capped;
        }
    }

    /// @notice Floor shares of `total` by weight, then one more each to the largest remainders
    ///         (ties: lower index). Zero weights get nothing; all-zero weights give all zeros.
    function split(uint256 total, uint256[] memory weights) internal pure returns (uint256[] memory shares) {
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
        // remainders are non-zero: the top picks below never fall on a zero remainder.
        if (given < total) _topUp(shares, rem, total - given);
    }

    /// @dev One more each to the `m` largest remainders (ties: lower index), picked from a
    ///      binary heap: O(n + m log n) instead of a scan of all n per pick (O(n * m)), which
    ///      cost startRound ~20k gas per member at 256 members.
    function _topUp(uint256[] memory shares, uint256[] memory rem, uint256 m) private pure {
        uint256 n = rem.length;
        uint256[] memory heap = new uint256[](n);
        for (uint256 i; i < n; ++i) heap[i] = i;
        for (uint256 i = n / 2; i > 0; --i) _siftDown(heap, rem, i - 1, n);
        for (uint256 k; k < m; ++k) {
            shares[heap[0]] += 1;
            --n;
            heap[0] = heap[n];
            _siftDown(heap, rem, 0, n);
        }
    }

    /// @dev Restore the heap below position `i` (of `n`): a parent is picked before its
    ///      children (larger remainder, then lower index). Assembly: the checked Solidity
    ///      version cost ~10k gas per pick at 256 members. Every index read is below `n`, and
    ///      every heap entry is an index of `rem`.
    function _siftDown(uint256[] memory heap, uint256[] memory rem, uint256 i, uint256 n) private pure {
        assembly ("memory-safe") {
            let h := add(heap, 32)
            let r := add(rem, 32)
            for {} 1 {} {
                let c := add(mul(i, 2), 1)
                if iszero(lt(c, n)) { break }
                let hc := mload(add(h, mul(c, 32)))
                let rc := mload(add(r, mul(hc, 32)))
                if lt(add(c, 1), n) {
                    let hd := mload(add(h, mul(add(c, 1), 32)))
                    let rd := mload(add(r, mul(hd, 32)))
                    if or(gt(rd, rc), and(eq(rd, rc), lt(hd, hc))) {
                        c := add(c, 1)
                        hc := hd
                        rc := rd
                    }
                }
                let hi := mload(add(h, mul(i, 32)))
                let ri := mload(add(r, mul(hi, 32)))
                if iszero(or(gt(rc, ri), and(eq(rc, ri), lt(hc, hi)))) { break }
                mstore(add(h, mul(i, 32)), hc)
                mstore(add(h, mul(c, 32)), hi)
                i := c
            }
        }
    }

    /// @notice Committee seats by stake: `k` draws with replacement, each landing on an index
    ///         with probability proportional to its weight; seats[i] counts the draws that
    ///         landed on i (its voting weight). With as many or fewer candidates than draws,
    ///         every candidate sits with its weight itself. Zero weights never sit.
    /// @dev With replacement, each seat is an independent draw, so a coalition holding a share
    ///      s of the stake expects s of the seats however it splits its stake over accounts.
    function drawSeats(bytes32 seed, uint256[] memory weights, uint256 k)
        internal
        pure
        returns (uint256[] memory seats)
    {
        uint256 n = weights.length;
        uint256 total;
        uint256 nonzero;
        for (uint256 i; i < n; ++i) {
            total += weights[i];
            if (weights[i] > 0) ++nonzero;
        }
        if (nonzero <= k) return weights;
        seats = new uint256[](n);
        for (uint256 d; d < k; ++d) {
            uint256 x = uint256(keccak256(abi.encode(seed, d))) % total;
            uint256 acc;
            uint256 i;
            for (; i < n; ++i) {
                acc += weights[i];
                if (x < acc) break;
            }
            seats[i] += 1;
        }
    }

    /// @notice Number of set bits (SWAR: constant gas, whatever the bits).
    function popcount(uint256 x) internal pure returns (uint256) {
        if (x == type(uint256).max) return 256; // the byte sum below would wrap at 256
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            return (x * 0x0101010101010101010101010101010101010101010101010101010101010101) >> 248;
        }
    }
}
